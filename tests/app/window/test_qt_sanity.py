"""The Qt binding itself: a release that mishandles references on signal emits would
abort the app after a few thousand mouse moves (PySide6 6.12.0 did; pyproject pins it out)."""
from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    plain = Signal()
    value = Signal(object)


def test_signal_emits_keep_reference_counts():
    e = _Emitter()
    seen = []
    e.value.connect(seen.append)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for k in range(300):  # far below the count that would abort the interpreter
        e.plain.emit()
        e.value.emit(k)
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert len(seen) == 300
    assert abs(after[0] - before[0]) < 50 and abs(after[1] - before[1]) < 50, (before, after)
