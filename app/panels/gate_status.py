"""The offer gate's one line in the status bar (Auto mode): the threshold in force and
why, or that no threshold pays, with a one-click Show anyway."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from model.effort.gate import Decision

from ..document.document import Document


class GateStatus(QWidget):
    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        self.label = QLabel()
        self.label.setObjectName("gateLine")
        self.show_anyway = QPushButton("Show anyway")
        self.show_anyway.setObjectName("showAnyway")
        self.show_anyway.setToolTip("Show this model version's offers on images not done, at "
                                    "the Display slider's threshold, though none pays")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label)
        row.addWidget(self.show_anyway)
        self.show_anyway.clicked.connect(doc.show_anyway)
        doc.gateChanged.connect(lambda _d: self.refresh())
        doc.autoChanged.connect(lambda _on: self.refresh())
        self.refresh()

    def text(self, d: Decision) -> str:
        """Short enough for a 1280-pixel window's status bar (the tooltip has it all)."""
        per = "no estimate yet" if d.per_offer_seconds is None else \
            f"{d.per_offer_seconds:+.1f} s an offer"
        if d.hidden and self.doc.shown_anyway:
            return f"Offers shown anyway at {self.doc.threshold:.2f}: none pays " \
                   f"({d.count} judged offers)"
        if d.hidden:
            return f"Offers hidden: none pays ({d.count} judged offers; at best {per})"
        if not d.fitted:
            return f"Auto {d.threshold:.2f}, the default until {d.min_records} judged " \
                   f"offers ({d.count} so far; {per})"
        return f"Auto {d.threshold:.2f}: {per}, from {d.count} judged offers"

    def refresh(self) -> None:
        d = self.doc.gate
        on = self.doc.auto and d is not None
        self.setVisible(on)
        if not on:
            return
        self.label.setText(self.text(d))
        self.label.setToolTip(f"{d.line()}.\nModel version {d.version}: an offer's benefit "
                              "is the drawing it saves minus what reviewing it costs, judged "
                              "from your decisions on done images")
        self.show_anyway.setVisible(d.hidden and not self.doc.shown_anyway)
