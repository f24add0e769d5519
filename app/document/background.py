"""Writes that must not stall the window (autosave, the prediction cache) run on one
background thread; their snapshots are taken on the UI thread, in proportion to
what changed, and serialised there.

The thread never touches Qt: results are collected by a timer on the UI thread,
which emits done/failed, so no Python object crosses threads inside a Qt event.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

POLL_MS = 50


class BackgroundWriter(QObject):
    done = Signal(str, object)  # kind, the job's result
    failed = Signal(str, str)  # kind, message

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maskloop-writer")
        self._jobs: list[tuple[str, Future]] = []
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._collect)

    def submit(self, kind: str, job: Callable[[], object]) -> Future:
        """Run job() on the writer thread; done/failed are emitted on the UI thread."""
        fut = self._pool.submit(job)
        self._jobs.append((kind, fut))
        self._timer.start()
        return fut

    def _collect(self, block: bool = False) -> None:
        pending = []
        for kind, fut in self._jobs:
            if not (block or fut.done()):
                pending.append((kind, fut))
                continue
            try:
                result = fut.result()
            except Exception as e:  # disk full, permissions: reported, never raised here
                self.failed.emit(kind, f"{type(e).__name__}: {e}")
            else:
                self.done.emit(kind, result)
        self._jobs = pending
        if not pending:
            self._timer.stop()

    def wait(self) -> None:
        """Finish every submitted job now and report it (close, tests)."""
        self._collect(block=True)

    def shutdown(self) -> None:
        self.wait()
        self._pool.shutdown(wait=True)
