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
        if d.hidden and self.doc.shown_anyway:
            at = self.doc.threshold
            return f"Auto: offers shown anyway at {at:.2f}. {d.line()}"
        return f"Auto: {d.line()}"

    def refresh(self) -> None:
        d = self.doc.gate
        on = self.doc.auto and d is not None
        self.setVisible(on)
        if not on:
            return
        self.label.setText(self.text(d))
        self.label.setToolTip(f"Model version {d.version}: the benefit of an offer is the "
                              "drawing it saves minus what reviewing it costs, judged from "
                              "your decisions on done images")
        self.show_anyway.setVisible(d.hidden and not self.doc.shown_anyway)
