"""A dependency-free progress bar on stderr, with rate and ETA."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from model.text import format_eta


class ProgressBar:
    """Redraws in place on a terminal; prints a line every few seconds otherwise."""

    def __init__(self, total: int, label: str = "", unit: str = "img",
                 stream: TextIO | None = None, width: int = 30):
        self.total, self.label, self.unit, self.width = total, label, unit, width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.done = 0
        self._last_print = 0.0

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def text(self, extra: str = "") -> str:
        frac = self.done / self.total if self.total else 1.0
        filled = int(frac * self.width)
        rate = self.rate()
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * filled + "-" * (self.width - filled)
        return (f"{self.label} [{bar}] {self.done}/{self.total} {rate:.2f} {self.unit}/s "
                f"ETA {format_eta(eta)}{(' ' + extra) if extra else ''}")

    def update(self, n: int = 1, extra: str = "") -> None:
        self.done += n
        now = time.perf_counter()
        final = self.done >= self.total
        if self.tty:
            self.stream.write("\r" + self.text(extra))
            if final:
                self.stream.write("\n")
        elif final or now - self._last_print > 5.0:
            self.stream.write(self.text(extra) + "\n")
            self._last_print = now
        self.stream.flush()
