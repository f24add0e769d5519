"""The model side of the window: weights and device choosers, the download dialog,
the 'model not available' choices, and predict-all progress in the status bar."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QComboBox, QFileDialog, QProgressDialog

from model.devices import available_devices
from model.progress import format_eta

from .workers import ModelInfo, ModelSpec

WEIGHT_CHOICES = [("coco", "COCO (torchvision v1)"), ("coco-v2", "COCO v2"),
                  ("none", "Random init (train from scratch)")]


def set_combo(combo: QComboBox, value: str) -> None:
    """Select value, adding it (a checkpoint path, say) when it is not listed yet."""
    i = combo.findData(value)
    if i < 0:
        combo.addItem(Path(value).name if ("/" in value or "\\" in value) else value, value)
        i = combo.count() - 1
    combo.setCurrentIndex(i)


class ModelPanel(QObject):
    def __init__(self, win, weights: str | None, device: str | None):
        super().__init__(win)
        self.win, self.settings, self.inference = win, win.settings, win.inference
        self.download_dialog: QProgressDialog | None = None
        self.weights_combo = QComboBox()
        self.weights_combo.setObjectName("weightsChooser")
        for spec, label in WEIGHT_CHOICES:
            self.weights_combo.addItem(label, spec)
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceChooser")
        for spec, label in available_devices():
            self.device_combo.addItem(label, spec)
        set_combo(self.weights_combo, weights or self.settings.value("weights", "coco"))
        set_combo(self.device_combo, device or self.settings.value("device", "auto"))
        self.weights_combo.activated.connect(lambda _i: self.apply_model_choice())
        self.device_combo.activated.connect(lambda _i: self.apply_model_choice())
        inf = self.inference
        inf.modelFailed.connect(self._on_model_failed)
        inf.modelReady.connect(self._on_model_ready)
        inf.batchRunning.connect(self._on_batch_running)
        inf.batchProgress.connect(self._on_batch_progress)
        inf.downloadProgress.connect(self._on_download_progress)

    def model_spec(self) -> ModelSpec:
        return ModelSpec(weights=self.weights_combo.currentData(),
                         device=self.device_combo.currentData(),
                         min_size=self.win.min_size, max_size=self.win.max_size)

    def apply_model_choice(self) -> None:
        spec = self.model_spec()
        self.settings.setValue("weights", spec.weights)
        self.settings.setValue("device", spec.device)
        self.inference.set_model(spec)

    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.win, "Open checkpoint",
                                              self.settings.value("last_folder", ""),
                                              "PyTorch weights (*.pt *.pth);;All files (*)")
        if path:
            self.use_weights(path)

    def use_weights(self, weights: str) -> None:
        set_combo(self.weights_combo, weights)
        self.apply_model_choice()

    def _on_model_ready(self, info: ModelInfo) -> None:
        self._close_download_dialog()
        self.win.statusBar().showMessage(f"Model ready: {info.model_id} on {info.device}", 5000)

    def _on_model_failed(self, message: str) -> None:
        self._close_download_dialog()
        answer = self.win.notifier.ask(
            "Model not available",
            f"{message}\n\nYou can open a checkpoint file, start from random weights and "
            "fine-tune on your own labels, or keep reviewing and editing without a model.",
            ["Open checkpoint…", "Start from scratch", "Review without a model"],
            "Review without a model")
        if answer == "Open checkpoint…":
            self.open_checkpoint_dialog()
        elif answer == "Start from scratch":
            self.use_weights("none")

    def _on_download_progress(self, done: int, total: int) -> None:
        dlg = self.download_dialog
        if dlg is None:
            dlg = QProgressDialog("Downloading the COCO weights (about 170 MB, once)…",
                                  "Cancel", 0, 100, self.win)
            dlg.setObjectName("downloadDialog")
            dlg.setWindowModality(Qt.NonModal)
            dlg.canceled.connect(self.inference.worker.cancel_download)
            dlg.show()
            self.download_dialog = dlg
        dlg.setMaximum(max(total, 1) if total else 0)
        dlg.setValue(done if total else 0)
        dlg.setLabelText(f"Downloading the COCO weights… {done / 1e6:.0f} / "
                         f"{total / 1e6:.0f} MB" if total else f"{done / 1e6:.0f} MB")

    def _close_download_dialog(self) -> None:
        if self.download_dialog is not None:
            self.download_dialog.close()
            self.download_dialog.deleteLater()
            self.download_dialog = None

    def _on_batch_running(self, running: bool) -> None:
        self.win.progress.setVisible(running)
        self.win.cancel_button.setVisible(running)

    def _on_batch_progress(self, done: int, total: int, eta: float) -> None:
        bar = self.win.progress
        # QProgressBar.setValue repaints at once, which would flush the whole window
        # (canvas included) right now; with updates off it joins the next normal paint
        bar.setUpdatesEnabled(False)
        bar.setMaximum(total)
        bar.setValue(done)
        bar.setFormat(f"{done}/{total} · ETA {format_eta(eta)}" if done else f"0/{total}")
        bar.setUpdatesEnabled(True)
