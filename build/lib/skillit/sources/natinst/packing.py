"""The text template of Natural Instructions samples, and packing instances into a context.

A sequence is the task definition followed by instances, each its input and its output:

    Definition: <task definition>

    Input: <input 1>
    Output: <output 1>

    Input: <input 2>
    Output: <output 2>

Every piece is tokenized on its own and the ids are joined, so the scored positions (the output
tokens, never the labels or the blank line after them) are known exactly. Training sequences hold
as many of one task's training instances as fit in `max_len` tokens: a fresh random order of the
instances is walked and every instance that still fits is taken (first fit), so no instance is
ever split and a sequence never exceeds `max_len`. Validation rows hold the definition and one
instance, without the trailing blank line.

Over-long pieces are cut so that everything fits: the definition is kept to at most half the
context, and an instance longer than the rest of the context on its own loses tokens from the
left of its input (the end of an input, where questions usually are, stays next to the output);
only if the input is used up is the output cut from the right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from skillit.errors import SkillitError
from skillit.sources.natinst.config import KEY

DEFINITION_LABEL = "Definition:"
INPUT_LABEL = "Input:"
OUTPUT_LABEL = "\nOutput:"
SEPARATOR = "\n\n"
TEMPLATE_VERSION = 1  # part of the tokenizer cache key: bump when the text above changes


def render_text(definition: str, pairs: Sequence[tuple[str, str]]) -> str:
    """The text a sequence of (input, output) pairs stands for (tokenizer training, docs)."""
    parts = [f"{DEFINITION_LABEL} {definition}{SEPARATOR}"]
    parts += [f"{INPUT_LABEL} {x}{OUTPUT_LABEL} {y}{SEPARATOR}" for x, y in pairs]
    return "".join(parts)


def _ids(tok: Tokenizer, text: str) -> np.ndarray:
    return np.asarray(tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)


@dataclass(frozen=True)
class TemplateIds:
    """Token ids of the template's fixed pieces under one tokenizer."""

    definition: np.ndarray
    input: np.ndarray
    output: np.ndarray
    separator: np.ndarray

    @classmethod
    def for_tokenizer(cls, tok: Tokenizer) -> TemplateIds:
        return cls(
            *(_ids(tok, t) for t in (DEFINITION_LABEL, INPUT_LABEL, OUTPUT_LABEL, SEPARATOR))
        )


def header_ids(t: TemplateIds, definition_ids: np.ndarray, max_len: int) -> np.ndarray:
    """'Definition: ...' and the blank line, the definition cut to keep within max_len // 2."""
    keep = max(max_len // 2 - len(t.definition) - len(t.separator), 0)
    return np.concatenate([t.definition, definition_ids[:keep], t.separator])


def fit_instance(
    t: TemplateIds,
    input_ids: np.ndarray,
    answer_ids: np.ndarray,
    room: int,
    separator: bool,
    task: str,
) -> tuple[np.ndarray, np.ndarray]:
    """One instance's ids and answer mask, within `room` tokens (see the module docstring)."""
    tail = t.separator if separator else t.separator[:0]
    excess = len(t.input) + len(input_ids) + len(t.output) + len(answer_ids) + len(tail) - room
    if excess > 0:
        cut = min(excess, len(input_ids))
        input_ids, excess = input_ids[cut:], excess - cut
    if excess > 0:
        answer_ids = answer_ids[: max(len(answer_ids) - excess, 0)]
        if len(answer_ids) == 0:
            raise SkillitError(
                f"{KEY}.max_len is too small for the template: an instance of {task} has no "
                f"room left for its output; raise {KEY}.max_len"
            )
    ids = np.concatenate([t.input, input_ids, t.output, answer_ids, tail])
    mask = np.zeros(len(ids), dtype=bool)
    start = len(t.input) + len(input_ids) + len(t.output)
    mask[start : start + len(answer_ids)] = True
    return ids, mask


def first_fit(lengths: np.ndarray, order: np.ndarray, room: int) -> np.ndarray:
    """Walk `order` and take every item whose length still fits in what is left of `room`.

    Returns the taken items in walking order. Every item not taken is longer than the room that
    is left at the end (the room only shrinks), so the result is full for this order.
    """
    lens = lengths[order]
    smallest = int(lens.min()) if len(lens) else room + 1
    taken: list[int] = []
    pos, n = 0, len(order)
    while pos < n and room >= smallest:
        if lens[pos] > room:  # jump to the next item that fits, if any
            fits = np.flatnonzero(lens[pos:] <= room)
            if fits.size == 0:
                break
            pos += int(fits[0])
        taken.append(pos)
        room -= int(lens[pos])
        pos += 1
    return order[np.asarray(taken, dtype=np.int64)]


@dataclass
class TaskTokens:
    """One task, tokenized: the header, its training instances (flat) and its validation rows."""

    header: np.ndarray  # int64
    flat_ids: np.ndarray  # training instances back to back, int32
    flat_mask: np.ndarray  # bool, True at output tokens
    offsets: np.ndarray  # (n_train + 1,) int64 start of each training instance in flat_ids
    dev_rows: list[tuple[np.ndarray, np.ndarray]]  # (ids, mask) of each validation row

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def pack(self, order: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """The header, then the instances first_fit takes from `order`; at most max_len long."""
        chosen = first_fit(self.lengths, order, max_len - len(self.header))
        spans = [slice(self.offsets[i], self.offsets[i + 1]) for i in chosen]
        ids = np.concatenate([self.header, *(self.flat_ids[s] for s in spans)])
        mask = np.concatenate(
            [np.zeros(len(self.header), bool), *(self.flat_mask[s] for s in spans)]
        )
        return ids, mask


def tokenize_task(
    tok: Tokenizer,
    t: TemplateIds,
    name: str,
    definition: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    train_positions: np.ndarray,
    dev_positions: np.ndarray,
    max_len: int,
) -> TaskTokens:
    """Tokenize the instances a task uses, once; every piece cut to fit (module docstring)."""
    used = np.concatenate([train_positions, dev_positions]).astype(np.int64)
    enc_in = tok.encode_batch([" " + inputs[i] for i in used], add_special_tokens=False)
    enc_out = tok.encode_batch([" " + outputs[i] for i in used], add_special_tokens=False)
    pieces = {
        int(i): (np.asarray(a.ids, dtype=np.int64), np.asarray(b.ids, dtype=np.int64))
        for i, a, b in zip(used, enc_in, enc_out)
    }
    header = header_ids(t, _ids(tok, " " + definition), max_len)
    room = max_len - len(header)
    blocks = [fit_instance(t, *pieces[int(i)], room, True, name) for i in train_positions]
    dev_rows = []
    for i in dev_positions:
        ids, mask = fit_instance(t, *pieces[int(i)], room, False, name)
        dev_rows.append(
            (np.concatenate([header, ids]), np.concatenate([np.zeros(len(header), bool), mask]))
        )
    lengths = np.array([len(b[0]) for b in blocks], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat_ids = np.concatenate([b[0] for b in blocks]) if blocks else np.zeros(0, np.int64)
    flat_mask = np.concatenate([b[1] for b in blocks]) if blocks else np.zeros(0, bool)
    return TaskTokens(header, flat_ids.astype(np.int32), flat_mask, offsets, dev_rows)
