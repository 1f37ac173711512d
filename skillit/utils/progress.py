"""Progress of long commands: one live bar in a terminal, plain lines through a pipe.

A tqdm bar written into a log file or a pipe leaves carriage returns and a line per redraw;
there, `progress` gives a stand-in with the same calls (update, set_postfix_str, close, a
context manager) that writes a plain `skillit: DESC: n/total unit` line at each tenth of the
total (or every `every_s` seconds when the total is unknown) and one at the end.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


class PlainLines:
    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        stream: TextIO,
        initial: int = 0,
        every_s: float = 30.0,
    ) -> None:
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.n = initial
        self.postfix = ""
        self.every_s = every_s
        self._last_tenth = self._tenth()
        self._last_time = time.monotonic()
        self._closed = False

    def _tenth(self) -> int:
        return int(10 * self.n / self.total) if self.total else 0

    def _line(self) -> None:
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        extra = f" ({self.postfix})" if self.postfix else ""
        print(f"skillit: {self.desc}: {count} {self.unit}{extra}", file=self.stream, flush=True)
        self._last_time = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.total:
            if self._tenth() > self._last_tenth:
                self._last_tenth = self._tenth()
                self._line()
        elif time.monotonic() - self._last_time >= self.every_s:
            self._line()

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def close(self) -> None:
        if not self._closed and (not self.total or self._last_tenth < 10):
            self._line()  # the final count, once
        self._closed = True

    def __enter__(self) -> PlainLines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool = True,
    initial: int = 0,
    stream: TextIO | None = None,
):
    """A live tqdm bar on a terminal, plain lines elsewhere, nothing when not `enabled`."""
    stream = stream or sys.stderr
    if not enabled:
        return tqdm(total=total, disable=True)
    if stream.isatty():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream)
    return PlainLines(total, desc, unit, stream, initial)
