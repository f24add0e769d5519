"""Status-bar hints that last exactly as long as their action: a controller emits
`hint(text)` when an action starts ("click or Enter accepts…") and `hint("")` when it
ends, and the hint goes at once instead of outliving the action by a timeout."""
from __future__ import annotations

from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QStatusBar


class StatusHints:
    def __init__(self, bar: QStatusBar):
        self.bar = bar
        self.shown: dict[str, str] = {}  # source -> the hint it shows

    def attach(self, source: str, signal: SignalInstance) -> None:
        signal.connect(lambda text, s=source: self.set(source=s, text=text))

    def set(self, source: str, text: str) -> None:
        """Show a source's hint (no timeout), or end it: cleared only while it is
        still the message shown, so it never erases what came after it."""
        old = self.shown.pop(source, None)
        if text:
            self.shown[source] = text
            self.bar.showMessage(text)
        elif old is not None and self.bar.currentMessage() == old:
            self.bar.clearMessage()
