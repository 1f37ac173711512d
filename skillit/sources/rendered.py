"""A synthetic source seen through another tokenizer: the generator's samples rendered as text.

The paper trains a pretrained GPT-Neo on LEGO and addition text tokenized by GPT-Neo's own BPE.
`RenderedSource` draws the same samples as the wrapped generator (same rng use, same validation
sets), renders each as its prompt and answer text and tokenizes both with the given tokenizer:
the answer's tokens are scored (a leading space belongs to the answer, as in the rendered text).
"""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer

from skillit.errors import SkillitError
from skillit.sources.base import SkillExamples
from skillit.sources.synthetic import GeneratedSource
from synthetic.common import Samples

PAD_CANDIDATES = ("<pad>", "<|pad|>", "<|endoftext|>", "</s>")


def pad_token_id(tokenizer: Tokenizer) -> int:
    """A padding id the rendered text never contains (padding is never scored)."""
    for token in PAD_CANDIDATES:
        idx = tokenizer.token_to_id(token)
        if idx is not None:
            return idx
    raise SkillitError(
        "the tokenizer has none of the tokens "
        f"{', '.join(PAD_CANDIDATES)} to pad with; add one to its tokenizer.json"
    )


class RenderedSource:
    """A :class:`~skillit.sources.base.SkillSource` over a generator, in another tokenizer."""

    def __init__(self, inner: GeneratedSource, tokenizer: Tokenizer) -> None:
        self.inner = inner
        self._tokenizer = tokenizer
        self._pad = pad_token_id(tokenizer)
        self._validation = [
            self._encode(inner.validation_samples(s)) for s in range(len(inner.skill_names))
        ]

    @property
    def skill_names(self) -> list[str]:
        return self.inner.skill_names

    @property
    def train_skill_names(self) -> list[str]:
        return self.inner.train_skill_names

    @property
    def eval_skill_names(self) -> list[str] | None:
        return self.inner.eval_skill_names

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    @property
    def pad_id(self) -> int:
        return self._pad

    def natural_proportions(self) -> np.ndarray:
        return self.inner.natural_proportions()

    def train_examples(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        return self._encode(self.inner.train_samples(skill, n, rng))

    def validation_examples(self, skill: int) -> SkillExamples:
        v = self._validation[skill]
        return SkillExamples(v.input_ids.copy(), v.loss_mask.copy(), v.skill.copy())

    def _encode(self, samples: Samples) -> SkillExamples:
        prompts = self._tokenizer.encode_batch(samples.prompts(), add_special_tokens=False)
        answers = self._tokenizer.encode_batch(
            [" " + a for a in samples.answers()], add_special_tokens=False
        )
        width = max((len(p.ids) + len(a.ids) for p, a in zip(prompts, answers)), default=1)
        ids = np.full((len(samples), width), self._pad, dtype=np.int64)
        mask = np.zeros((len(samples), width), dtype=bool)
        for r, (p, a) in enumerate(zip(prompts, answers)):
            if not a.ids:
                raise SkillitError(
                    f"the tokenizer maps the answer {samples.answers()[r]!r} to nothing"
                )
            ids[r, : len(p.ids)] = p.ids
            ids[r, len(p.ids) : len(p.ids) + len(a.ids)] = a.ids
            mask[r, len(p.ids) : len(p.ids) + len(a.ids)] = True
        return SkillExamples(ids, mask, samples.skill.astype(np.int64))
