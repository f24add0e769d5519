"""The model side of the window: the weights and device choosers (they display the
ModelSelection), the download dialog, the one 'model not available' question, the
out-of-memory offer, and predict-all progress in the status bar."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (QComboBox, QFileDialog, QProgressBar, QProgressDialog, QToolButton,
                               QWidget)

from model.net.devices import available_devices
from model.text import format_eta

from ..inference.inference_controller import InferenceController
from ..inference.selection import ModelSelection
from ..inference.workers import ModelInfo, ModelSpec
from ..notify import Notifier
from ..settings import Settings

WEIGHT_CHOICES = [("coco", "COCO (torchvision v1)"), ("coco-v2", "COCO v2"),
                  ("none", "Random init (train from scratch)")]
VERSION_ROLE = Qt.UserRole + 1  # True on an entry listed as the open dataset's model version


def set_combo(combo: QComboBox, value: str, label: str | None = None) -> None:
    """Show value, adding it (a checkpoint path, say) when it is not listed yet; a
    checkpoint is listed by `label` (its version's name) or its file name."""
    i = combo.findData(value)
    is_path = "/" in value or "\\" in value
    text = label or (Path(value).name if is_path else value)
    if i < 0:
        combo.addItem(text, value)
        i = combo.count() - 1
    elif label:
        combo.setItemText(i, label)
    if is_path:
        combo.setItemData(i, value, Qt.ToolTipRole)
    combo.blockSignals(True)
    combo.setCurrentIndex(i)
    combo.blockSignals(False)


class ModelControls(QObject):
    def __init__(self, selection: ModelSelection, inference: InferenceController,
                 notifier: Notifier, settings: Settings, dialog_parent: QWidget):
        super().__init__()
        self.selection, self.inference, self.notifier = selection, inference, notifier
        self.settings, self.dialog_parent = settings, dialog_parent
        self.download_dialog: QProgressDialog | None = None
        # a checkpoint's name to show (its model version's), or None: the file name
        self.describe: Callable[[str], str | None] = lambda _weights: None
        self.weights_combo = QComboBox()
        self.weights_combo.setObjectName("weightsChooser")
        self.weights_combo.setPlaceholderText("No model")
        self.weights_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.weights_combo.setMinimumContentsLength(22)
        for spec, label in WEIGHT_CHOICES:
            self.weights_combo.addItem(label, spec)
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceChooser")
        for spec, label in available_devices():
            self.device_combo.addItem(label, spec)
        self.progress = QProgressBar()
        self.progress.setObjectName("predictAllProgress")
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setVisible(False)
        self._show(selection.spec)
        self.weights_combo.activated.connect(
            lambda _i: selection.choose(weights=self.weights_combo.currentData()))
        self.device_combo.activated.connect(
            lambda _i: selection.choose(device=self.device_combo.currentData()))
        selection.changed.connect(self._show)
        selection.reverted.connect(self._show)
        inference.modelFailed.connect(self._on_model_failed)
        inference.modelReady.connect(self._close_download_dialog)
        inference.outOfMemory.connect(self._on_out_of_memory)
        inference.batchRunning.connect(self._on_batch_running)
        inference.batchProgress.connect(self._on_batch_progress)
        inference.downloadProgress.connect(self._on_download_progress)

    def list_versions(self, versions: list[tuple[str, str]]) -> None:
        """The open dataset's model versions, (name, checkpoint), listed by name: from
        models.json, so a fine-tune is here after a restart too. Versions of a dataset
        closed since go, unless one is the model in use."""
        combo = self.weights_combo
        keep = {path for _name, path in versions}
        for i in reversed(range(combo.count())):
            if combo.itemData(i, VERSION_ROLE) and combo.itemData(i) not in keep \
                    and i != combo.currentIndex():
                combo.removeItem(i)
        for name, path in versions:
            i = combo.findData(path)
            if i < 0:
                combo.blockSignals(True)  # the current entry stays what it was
                combo.addItem(name, path)
                combo.blockSignals(False)
                i = combo.count() - 1
            combo.setItemText(i, name)
            combo.setItemData(i, path, Qt.ToolTipRole)
            combo.setItemData(i, True, VERSION_ROLE)

    def _forget(self, weights: str) -> None:
        """A checkpoint that did not load leaves the chooser (built-in choices stay)."""
        combo = self.weights_combo
        i = combo.findData(weights)
        if i >= 0 and weights not in dict(WEIGHT_CHOICES):
            combo.blockSignals(True)
            combo.removeItem(i)
            combo.blockSignals(False)

    def show_selection(self) -> None:
        """Show the current model again (another dataset may name its checkpoint)."""
        if self.weights_combo.currentIndex() >= 0:
            self._show(self.selection.spec)

    def _show(self, spec: ModelSpec) -> None:
        set_combo(self.weights_combo, spec.weights, self.describe(spec.weights))
        set_combo(self.device_combo, spec.device)
        self.settings.weights, self.settings.device = spec.weights, spec.device

    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.dialog_parent, "Open checkpoint",
                                              self.settings.last_folder,
                                              "PyTorch weights (*.pt *.pth);;All files (*)")
        if path:
            self.selection.choose(weights=path)

    def _on_model_failed(self, message: str, kept: ModelInfo | None) -> None:
        """A model that works stays in use, and the user is told; without one, the one
        dialog for a model that cannot be loaded."""
        self._close_download_dialog()
        self._forget(self.selection.weights)  # the weights that failed: listed only if loaded
        if kept is not None:
            self.selection.revert(kept.spec)
            self.notifier.warning("Model not changed", f"{message}\n\nStill using "
                                  f"{kept.model_id} on {kept.device}.")
            return
        self.weights_combo.blockSignals(True)
        self.weights_combo.setCurrentIndex(-1)  # "No model": nothing is loaded now
        self.weights_combo.blockSignals(False)
        answer = self.notifier.ask(
            "Model not available",
            f"{message}\n\nYou can open a checkpoint file, start from random weights and "
            "fine-tune on your own labels, or keep reviewing and editing without a model.",
            ["Open checkpoint…", "Start from scratch", "Review without a model"],
            "Review without a model")
        if answer == "Open checkpoint…":
            self.open_checkpoint_dialog()
        elif answer == "Start from scratch":
            self.selection.choose(weights="none")

    def _on_out_of_memory(self, message: str) -> None:
        answer = self.notifier.ask(
            "Out of memory", f"{message}\n\nRetry on the CPU? (slower, but it has more memory)",
            ["Retry on CPU", "Cancel"], default="Retry on CPU")
        if answer == "Retry on CPU":
            self.selection.on_cpu()

    def _on_download_progress(self, done: int, total: int) -> None:
        dlg = self.download_dialog
        if dlg is None:
            dlg = QProgressDialog("Downloading the COCO weights (about 170 MB, once)…",
                                  "Cancel", 0, 100, self.dialog_parent)
            dlg.setObjectName("downloadDialog")
            dlg.setWindowModality(Qt.NonModal)
            dlg.canceled.connect(self.inference.worker.cancel_download)
            dlg.show()
            self.download_dialog = dlg
        dlg.setMaximum(max(total, 1) if total else 0)
        dlg.setValue(done if total else 0)
        dlg.setLabelText(f"Downloading the COCO weights… {done / 1e6:.0f} / "
                         f"{total / 1e6:.0f} MB" if total else f"{done / 1e6:.0f} MB")

    def _close_download_dialog(self, _info: ModelInfo | None = None) -> None:
        if self.download_dialog is not None:
            self.download_dialog.close()
            self.download_dialog.deleteLater()
            self.download_dialog = None

    def _on_batch_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)

    def _on_batch_progress(self, done: int, total: int, eta: float) -> None:
        bar = self.progress
        # QProgressBar.setValue repaints at once, which would flush the whole window
        # (canvas included) right now; with updates off it joins the next normal paint
        bar.setUpdatesEnabled(False)
        bar.setMaximum(total)
        bar.setValue(done)
        bar.setFormat(f"{done}/{total} · ETA {format_eta(eta)}" if done else f"0/{total}")
        bar.setUpdatesEnabled(True)
