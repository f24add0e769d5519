"""View controls: score threshold (the person's own, or Auto: the offer gate's for the
model version in use), overlay opacity, colour mode, labels, and brightness / contrast /
gamma (display only)."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSlider,
                               QWidget)

from ..display import DisplayAdjust


def _slider(lo: int, hi: int, value: int, name: str) -> QSlider:
    s = QSlider(Qt.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setObjectName(name)
    return s


class DisplayPanel(QWidget):
    thresholdChanged = Signal(float)
    autoChanged = Signal(bool)
    opacityChanged = Signal(float)
    adjustChanged = Signal(object)  # DisplayAdjust
    colorByClassChanged = Signal(bool)
    labelsChanged = Signal(bool)

    def __init__(self, threshold: float = 0.5, opacity: float = 0.45):
        super().__init__()
        self.threshold = _slider(0, 100, round(threshold * 100), "scoreThreshold")
        self.threshold.setToolTip("Hide predictions scoring below this (no new prediction needed)")
        self.threshold_label = QLabel()
        self.threshold_label.setMinimumWidth(  # "0.70" and "hidden" keep the slider still
            self.threshold_label.fontMetrics().horizontalAdvance("hidden"))
        self.auto = QCheckBox("Auto")
        self.auto.setObjectName("autoThreshold")
        self.auto.setToolTip("Show offers at the threshold your own decisions on this model "
                             "version's offers say pays (hidden when none does); moving the "
                             "slider turns Auto off")
        self.opacity = _slider(0, 100, round(opacity * 100), "opacity")
        self.brightness = _slider(-100, 100, 0, "brightness")
        self.contrast = _slider(10, 400, 100, "contrast")
        self.gamma = _slider(20, 500, 100, "gamma")
        self.by_class = QCheckBox("Colour by class")
        self.labels = QCheckBox("Show labels")
        self.labels.setChecked(True)
        reset = QPushButton("Reset display")
        row = QHBoxLayout()
        row.addWidget(self.threshold, 1)
        row.addWidget(self.threshold_label)
        row.addWidget(self.auto)
        form = QFormLayout(self)
        form.addRow("Score ≥", row)
        form.addRow("Opacity", self.opacity)
        form.addRow(self.by_class)
        form.addRow(self.labels)
        form.addRow("Brightness", self.brightness)
        form.addRow("Contrast", self.contrast)
        form.addRow("Gamma", self.gamma)
        form.addRow(reset)
        self._adjust_timer = QTimer(self, singleShot=True, interval=30)  # coalesce drags
        self._adjust_timer.timeout.connect(lambda: self.adjustChanged.emit(self.adjust()))
        self.threshold.valueChanged.connect(self._on_threshold)
        self.auto.toggled.connect(self.autoChanged)
        self.opacity.valueChanged.connect(lambda v: self.opacityChanged.emit(v / 100))
        for s in (self.brightness, self.contrast, self.gamma):
            s.valueChanged.connect(lambda _v: self._adjust_timer.start())
        self.by_class.toggled.connect(self.colorByClassChanged)
        self.labels.toggled.connect(self.labelsChanged)
        reset.clicked.connect(self.reset_display)
        self._on_threshold(self.threshold.value())

    def _on_threshold(self, v: int) -> None:
        self.threshold_label.setText(f"{v / 100:.2f}")
        self.thresholdChanged.emit(v / 100)

    def show_threshold(self, value: float) -> None:
        """Display the Document's threshold in force (its one owner); above 1 (the
        gate hides every offer) the slider stays where it was."""
        if value > 1.0:
            self.threshold_label.setText("hidden")
            return
        self.threshold.blockSignals(True)
        self.threshold.setValue(round(value * 100))
        self.threshold.blockSignals(False)
        self.threshold_label.setText(f"{value:.2f}")

    def show_auto(self, on: bool) -> None:
        """Display the Document's Auto mode."""
        self.auto.blockSignals(True)
        self.auto.setChecked(on)
        self.auto.blockSignals(False)

    def adjust(self) -> DisplayAdjust:
        return DisplayAdjust(self.brightness.value() / 100, self.contrast.value() / 100,
                             self.gamma.value() / 100)

    def reset_display(self) -> None:
        for s, v in ((self.brightness, 0), (self.contrast, 100), (self.gamma, 100)):
            s.setValue(v)
