"""Tokenizers built with the `tokenizers` library, saved with every run so checkpoints stand alone."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from skillit.errors import SkillitError
from synthetic.common import SPECIAL_TOKENS

PAD, UNK, EOS = SPECIAL_TOKENS  # defined once, by the generators, whose ids they fix


def wordlevel_tokenizer(words: Sequence[str]) -> Tokenizer:
    """A whitespace-split WordLevel tokenizer over a closed vocabulary (synthetic tasks).

    Ids 0..2 are <pad>, <unk>, <eos>; the given words follow in order, so ids are stable.
    """
    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *words):
        if token not in vocab:
            vocab[token] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\s+"), behavior="removed")
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins tokens with spaces
    return tok


def train_byte_bpe(
    texts: Iterable[str], vocab_size: int = 8192, min_frequency: int = 2
) -> Tokenizer:
    """Train a byte-level BPE on the given texts (Natural Instructions, user text)."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok: Tokenizer, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def load_tokenizer(path: str | Path) -> Tokenizer:
    path = Path(path)
    if not path.is_file():
        raise SkillitError(f"tokenizer file {path} does not exist (expected a tokenizer.json)")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise SkillitError(f"tokenizer file {path} could not be read: {exc}") from exc
