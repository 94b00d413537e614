"""The progress display on stderr: `[3/14] W2 softmax [4096,4096]: torch.compile ...`.

On a terminal one line updates in place; otherwise (a log file, a pipe, CI) each step is a
plain line of its own. Notes (a skipped or failing peer) always print on lines of their own.
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO


class Progress:
    """Counts `total` steps; `step(text)` starts the next one, `update(text)` retitles it."""

    def __init__(self, total: int, stream: TextIO | None = None, *, quiet: bool = False):
        self.total, self.done = total, 0
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.tty = _isatty(self.stream)
        self._shown = False  # a status line is on the terminal, to be cleared before a note

    def step(self, text: str) -> None:
        """Begin the next step."""
        self.done = min(self.done + 1, self.total)
        self._show(text, always=True)

    def update(self, text: str) -> None:
        """Say more about the current step (terminals only: a log gets one line per step)."""
        self._show(text, always=False)

    def note(self, text: str) -> None:
        """A message that stays: printed on its own line even with `quiet`."""
        self._clear()
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """Clear the status line (terminals), so that what follows starts on a clean line."""
        self._clear()

    def _show(self, text: str, always: bool) -> None:
        if self.quiet or not (always or self.tty):
            return
        line = f"[{self.done}/{self.total}] {text}"
        if self.tty:
            width = shutil.get_terminal_size((100, 24)).columns - 1
            self.stream.write("\r\x1b[K" + line[:width])
            self._shown = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
