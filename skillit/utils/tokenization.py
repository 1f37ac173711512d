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


# text a pre-tokenizer regex that backtracks without bound gives up on (long runs of one kind of
# character), encoded once when a tokenizer is loaded: the failure comes with the file's name
# before any work, not halfway through a corpus
PROBE_TEXTS = ("a" * 4096, "A1" * 2048, " " * 4096, "a " * 2048, "." * 4096, "\n" * 4096)


def is_panic(exc: BaseException) -> bool:
    """Whether `exc` is a panic of the tokenizers library's Rust code (pyo3's PanicException, a
    BaseException that `except Exception` misses and that cannot be pickled to a parent
    process), e.g. its regex engine giving up on a pattern."""
    return type(exc).__name__ == "PanicException"


def _panic_error(path: str | Path, exc: BaseException) -> SkillitError:
    return SkillitError(
        f"tokenizer file {path} failed on text ({exc}): a regex pattern in it (its "
        "pre-tokenizer or normalizer) makes the regex engine give up; fix the pattern or use "
        "another tokenizer"
    )


def encode_texts(tok: Tokenizer, texts: Sequence[str], path: str | Path) -> list:
    """tok.encode_batch(texts) without special tokens; a panic of the tokenizer becomes a
    SkillitError naming its file `path`."""
    try:
        return tok.encode_batch(list(texts), add_special_tokens=False)
    except BaseException as exc:
        if not is_panic(exc):
            raise
        raise _panic_error(path, exc) from None


def load_tokenizer(path: str | Path) -> Tokenizer:
    path = Path(path)
    if not path.is_file():
        raise SkillitError(f"tokenizer file {path} does not exist (expected a tokenizer.json)")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON or a bad regex
        raise SkillitError(f"tokenizer file {path} could not be read: {exc}") from exc
    except BaseException as exc:
        if not is_panic(exc):
            raise
        raise _panic_error(path, exc) from None
    _probe(tok, path)
    return tok


def _probe(tok: Tokenizer, path: Path) -> None:
    """Encode PROBE_TEXTS: refuse a tokenizer whose regex panics on them. An error of the
    tokenizer's own (a WordLevel without <unk> meets an unknown word) waits for real text."""
    try:
        encode_texts(tok, PROBE_TEXTS, path)
    except SkillitError:
        raise
    except Exception:
        pass


PAD_TOKENS = ("<pad>", "<|padding|>", "[PAD]", "<|pad|>")


def pad_id_of(tokenizer: Tokenizer, vocab_size: int) -> int:
    """The tokenizer's padding token, else an id outside the vocabulary: windows are full, so
    nothing is padded, and a pad id must never equal a token of the text (the end-of-document
    token in particular), or the text's tokens would count as padding."""
    for name in PAD_TOKENS:
        token = tokenizer.token_to_id(name)
        if token is not None:
            return int(token)
    return vocab_size
