"""Peak resident memory for the bench scripts, sampled from /proc (Linux)."""
from __future__ import annotations

import os
import threading
from typing import Callable


def rss_bytes() -> int:
    """This process's resident memory."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def tree_rss() -> int:
    """RSS of this process and all its descendants (DataLoader workers included)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class PeakMemory:
    """Samples `measure` every `interval` seconds on a thread while in the with-block;
    .peak is the highest value seen, including at entry and exit."""

    def __init__(self, measure: Callable[[], int] = rss_bytes, interval: float = 0.002):
        self.measure, self.interval = measure, interval
        self.peak = measure()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.measure())

    def __enter__(self) -> "PeakMemory":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.measure())
