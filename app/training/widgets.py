"""The fine-tune dialog (one click: Start) and the live training dock (progress with
ETA, a loss curve per term with pyqtgraph, val AP per epoch, and the held-out AP of
learning while you work with each swap)."""
from __future__ import annotations

from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QLabel, QProgressBar, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from model.editing.review import TrainingSet
from model.text import format_eta

from ..panels.legend import LegendColumn, with_legend

WEIGHT_NAMES = {"coco": "COCO (torchvision)", "coco-v2": "COCO v2 (torchvision)",
                "none": "random initialisation (training from scratch)"}
LOSS_COLORS = {"loss_classifier": "#e6194b", "loss_box_reg": "#3cb44b", "loss_mask": "#4363d8",
               "loss_objectness": "#f58231", "loss_rpn_box_reg": "#911eb4", "loss": "#000000"}


def estimate_seconds(images: int, epochs: int, device: str, min_size: int, threads: int) -> float:
    """A rough figure for the dialog: seconds per training image, times images x epochs."""
    if device.startswith("cuda") or device == "auto-cuda":
        per = 0.15 * (min_size / 800) ** 2 + 0.02
    else:
        per = 10.0 * (min_size / 800) ** 2 * (2 / max(1, threads)) + 0.5
    return images * epochs * per * 1.1  # plus validation


class FineTuneDialog(QDialog):
    """The training set, the rule that made it, and one click: Start.

    Nothing is written until Start: the dialog only reads the open dataset.
    """

    def __init__(self, parent, summarize: Callable[[bool], TrainingSet], names: dict[int, str],
                 weights: str, device: str, min_size: int, threads: int, epochs: int = 10):
        super().__init__(parent)
        self.setObjectName("fineTuneDialog")
        self.setWindowTitle("Fine-tune the model")
        self.summarize, self.names = summarize, names
        self.device, self.min_size, self.threads = device, min_size, threads
        self.summary = summarize(False)
        s = self.summary
        self.epochs = QSpinBox()
        self.epochs.setObjectName("fineTuneEpochs")
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(epochs)
        self.estimate = QLabel()
        self.used = QLabel()
        self.used.setObjectName("fineTuneUsed")
        self.used.setWordWrap(True)
        self.per_class = QLabel()
        self.per_class.setWordWrap(True)
        self.include_corrected = QCheckBox(
            f"Also train on {s.groups['corrected']} in-progress image(s) with corrections")
        self.include_corrected.setObjectName("fineTuneIncludeCorrected")
        self.include_corrected.setEnabled(s.groups["corrected"] > 0)
        self.include_corrected.setToolTip(
            "Off by default: objects on those images that nobody has labelled yet would be "
            "taught as background")
        why = QLabel("Off by default: objects on those images that nobody has labelled yet "
                     "would be taught as background.")
        why.setWordWrap(True)
        form = QFormLayout()
        st = s.status
        form.addRow("Images", QLabel(f"{st.get('done', 0)} done · {st.get('in_progress', 0)} in "
                                     f"progress · {st.get('unreviewed', 0)} unreviewed"))
        rv = s.reviews
        instances = QLabel(f"{rv.get('decided', 0)} decided · {rv.get('accepted', 0)} "
                           f"accepted · {rv.get('rejected', 0)} rejected · "
                           f"{rv.get('unreviewed', 0)} unreviewed predictions (as the "
                           "instance list says)")
        instances.setObjectName("fineTuneInstances")
        instances.setWordWrap(True)
        form.addRow("Instances", instances)
        form.addRow("Training uses", self.used)
        form.addRow("", self.include_corrected)
        form.addRow("", why)
        form.addRow("Instances per class", self.per_class)
        form.addRow("Start weights", QLabel(WEIGHT_NAMES.get(weights, weights)))
        form.addRow("Device", QLabel(device))
        form.addRow("Epochs", self.epochs)
        form.addRow("Estimated time", self.estimate)
        buttons = QDialogButtonBox()
        self.start = buttons.addButton("Start", QDialogButtonBox.AcceptRole)
        self.start.setObjectName("fineTuneStart")
        self.start.setDefault(True)
        buttons.addButton(QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        rule = QLabel("The rule: an image is used when it is marked done, or when every "
                      "instance on it is decided: accepted, rejected, or decided (drawn or "
                      "edited by a person, or an annotation of a ground-truth file, whatever "
                      "the image's review state). Rejected instances are never taught as "
                      "objects.")
        rule.setWordWrap(True)
        lay.addWidget(rule)
        lay.addLayout(form)
        note = QLabel("Training runs in a separate process on a snapshot of these images; "
                      "you can keep reviewing. Your COCO file is not written.")
        note.setWordWrap(True)
        lay.addWidget(note)
        lay.addWidget(buttons)
        self.epochs.valueChanged.connect(self._update)
        self.include_corrected.toggled.connect(self._on_include)
        self._update()

    def _on_include(self, on: bool) -> None:
        self.summary = self.summarize(on)
        self._update()

    def _update(self) -> None:
        s = self.summary
        g = s.groups
        parts = [f"{g['done']} done", f"{g['decided']} with every instance decided"]
        if s.include_corrected:
            parts.append(f"{g['corrected']} in progress with corrections")
        self.used.setText(f"{s.used} image(s): " + ", ".join(parts)
                          + f"; {g['open']} with nothing decided are left out")
        per = ", ".join(f"{self.names.get(c, c)}: {n}" for c, n in s.positives.items())
        self.per_class.setText(per or "none (the images teach only what is not an object)")
        self.start.setEnabled(s.used > 0)
        secs = estimate_seconds(s.used, self.epochs.value(), self.device, self.min_size,
                                self.threads)
        self.estimate.setText(f"about {format_eta(secs)} (rough; shown live once started)")


class TrainingPanel(QWidget):
    """Status, progress, then two pages: the loss curves (their legend beside them, so
    it never covers an axis) and the val AP per epoch. Its minimum height fits the tab
    group under the instance list, so showing it never takes rows from that list."""

    cancelRequested = Signal()

    def __init__(self):
        super().__init__()
        self.setObjectName("trainingPanel")
        self.status = QLabel("No training yet. Model → Fine-tune… starts one.")
        self.status.setObjectName("trainingStatus")
        self.status.setWordWrap(True)  # two lines held; the layout gives it more if it wraps
        self.status.setMinimumHeight(2 * self.status.fontMetrics().lineSpacing())
        self.progress = QProgressBar()
        self.progress.setObjectName("trainingProgress")
        self.cancel = QPushButton("Cancel training")
        self.cancel.setObjectName("trainingCancel")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self.cancelRequested)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("lossPlot")
        self.plot.setLabel("left", "loss")  # x: iterations (the progress bar counts them)
        self.plot.setMinimumHeight(80)
        # the legend is a column of its own beside the plot: inside it, it hid the curves;
        # under it, a squeezed dock drew it over the x-axis
        self.legend = LegendColumn("lossLegend")
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.points: dict[str, tuple[list, list]] = {}
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("valTable")
        self.table.setHorizontalHeaderLabels(["Epoch", "bbox AP", "segm AP"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        loss = QWidget()
        with_legend(self.plot, self.legend, loss)
        self.pages = QTabWidget()
        self.pages.setObjectName("trainingPages")
        self.pages.setDocumentMode(True)
        self.heldout = QTableWidget(0, 5)
        self.heldout.setObjectName("heldOutTable")
        self.heldout.setHorizontalHeaderLabels(["Iteration", "Images", "segm AP", "In use",
                                                "Swapped in"])
        self.heldout.verticalHeader().setVisible(False)
        self.heldout.setEditTriggers(QTableWidget.NoEditTriggers)
        self.heldout.setToolTip("Learning while you work: at each checkpoint the model and the "
                                "version in use are measured on the same held-out images "
                                "(never trained on); a model that beats it is swapped in")
        self.pages.addTab(loss, "Loss")
        self.pages.addTab(self.table, "Val AP")
        self.pages.addTab(self.heldout, "Held-out AP")
        top = QHBoxLayout()
        top.addWidget(self.progress, 1)
        top.addWidget(self.cancel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        lay.addWidget(self.status)
        lay.addLayout(top)
        lay.addWidget(self.pages, 1)

    def clear(self, text: str) -> None:
        """No run to show (the open dataset has not trained yet)."""
        self.status.setText(text)
        self.status.setToolTip("")
        self.plot.clear()  # the curves, and the axes' ranges of the run before
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.plot.enableAutoRange()
        self.legend.set_entries([])
        self.curves.clear()
        self.points.clear()
        self.table.setRowCount(0)
        self.heldout.setRowCount(0)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.cancel.setEnabled(False)

    def reset(self, text: str) -> None:
        """A run starts."""
        self.clear(text)
        self.progress.setRange(0, 0)
        self.progress.setFormat("starting…")
        self.cancel.setEnabled(True)

    def show_run(self, events: list, text: str) -> None:
        """A finished run as its events left it (the curves drawn once, at the end).
        The events come from a file: one that does not fit is skipped."""
        self.clear(text)
        done = None
        for e in events:
            try:
                if e.get("event") == "done":
                    done = e
                elif e.get("event") in ("start", "iter", "val", "heldout"):
                    self.on_event(e, draw=False)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
        self._draw_curves()
        self.status.setText(text)
        if done is not None:
            try:
                self.on_finished(done)
                self.status.setText(f"{text}. {self.status.text()}")
            except (TypeError, ValueError, AttributeError):
                self.status.setText(text)

    def _draw_curves(self) -> None:
        for name, (xs, ys) in self.points.items():
            self.curves[name].setData(xs, ys)

    def on_event(self, e: dict, draw: bool = True) -> None:
        """One progress event of the run (draw False: a replay draws the curves once)."""
        kind = e.get("event")
        if kind == "start" and e.get("iterations") is None:  # learning: until stopped
            self.progress.setRange(0, 0)
            self.status.setText(f"Learning while you work: training on {e['train_images']} "
                                f"image(s), {e['val_images']} held out, {e['device']}, "
                                f"from {e['weights']}")
        elif kind == "start":
            self.progress.setRange(0, int(e["iterations"]))
            self.progress.setValue(int(e.get("start_iteration", 0)))
            self.status.setText(f"Training on {e['train_images']} image(s), validating on "
                                f"{e['val_images']}, {e['device']}, from {e['weights']}")
        elif kind == "iter":
            if e.get("total") is None:  # learning: no end, so no ETA
                self.progress.setFormat(f"iteration {e['iteration']} · "
                                        f"{e['images_per_s']:.2f} img/s")
            else:
                self.progress.setMaximum(int(e["total"]))
                self.progress.setValue(int(e["iteration"]))
                self.progress.setFormat(f"{e['iteration']}/{e['total']} · "
                                        f"{e['images_per_s']:.2f} img/s · ETA "
                                        f"{format_eta(e['eta_s'])}")
            for name, value in list(e["losses"].items()) + [("loss", e["loss"])]:
                xs, ys = self.points.setdefault(name, ([], []))
                xs.append(float(e["iteration"]))
                ys.append(float(value))
                curve = self.curves.get(name)
                if curve is None:
                    curve = self.plot.plot(pen=pg.mkPen(LOSS_COLORS.get(name, "#888"),
                                                        width=2 if name == "loss" else 1))
                    self.curves[name] = curve
                    self._show_legend()
                if draw:
                    curve.setData(xs, ys)
        elif kind == "validating":
            self.status.setText(f"Validating epoch {e['epoch']}…")
        elif kind == "val":
            m = e["metrics"]
            cells = [str(e["epoch"]), m["bbox"]["AP"], m["segm"]["AP"]]
            r = self.table.rowCount()
            self.table.insertRow(r)
            for c, v in enumerate(cells):
                text = v if isinstance(v, str) else ("-" if v is None else f"{v:.3f}")
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
        elif kind == "heldout":
            self.add_held_out(e)
        elif kind == "data":
            self.status.setText(f"Learning while you work: {e['train_images']} image(s) to "
                                f"train on, {e['held_out_images']} held out")
        elif kind in ("warning", "info", "error", "waiting"):
            self.status.setText(e["message"])

    def add_held_out(self, e: dict) -> None:
        """One held-out evaluation of learning while you work (the swap is marked by
        mark_swap once the app has made it)."""
        r = self.heldout.rowCount()
        self.heldout.insertRow(r)
        for c, v in enumerate([e["iteration"], e["images"], e.get("ap"), e.get("in_use_ap"), ""]):
            text = v if isinstance(v, str) else ("-" if v is None else
                                                 str(v) if isinstance(v, int) else f"{v:.3f}")
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.heldout.setItem(r, c, item)
        if e.get("message"):
            self.status.setText(e["message"])

    def mark_swap(self, iteration: int, name: str) -> None:
        """The row of this iteration: its model is the version in use now."""
        for r in range(self.heldout.rowCount()):
            if self.heldout.item(r, 0).text() == str(iteration):
                self.heldout.setItem(r, 4, QTableWidgetItem(name))
        self.status.setText(f"Swapped in {name}: it beat the version in use on the held-out "
                            "images; the images nobody has reviewed are predicted again")

    def _show_legend(self) -> None:
        self.legend.set_entries([(LOSS_COLORS.get(n, "#888888"),
                                  "total" if n == "loss" else n.removeprefix("loss_"))
                                 for n in self.curves])

    def on_finished(self, summary: dict) -> None:
        self.cancel.setEnabled(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        status = summary.get("status")
        if status == "error":
            self.status.setText(f"Training failed: {summary.get('message', '')[:300]}")
        else:
            ap = summary.get("best_segm_ap")
            self.status.setText(f"Training {status} after {summary.get('iterations')} iterations"
                                + (f", best val segm AP {ap:.3f}" if ap is not None else "")
                                + ".")
            self.status.setToolTip(f"Checkpoint: {summary.get('checkpoint')}")
