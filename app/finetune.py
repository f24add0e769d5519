"""One-click fine-tune: save, snapshot the COCO file, train in a QProcess with a live
dock, register the checkpoint as a model version, then offer to switch to it and
re-predict the images nobody has reviewed (reviewed instances are never touched)."""
from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget

from model import checkpoint as C
from model.coco import load_dataset
from model.train_data import TrainingDataError, class_counts, select_samples, split_train_val
from model.versions import VersionRegistry

from .session import state_dir
from .training import TrainingProcess, cpu_threads_for_training
from .training_dock import FineTuneDialog, TrainingPanel

RUNS = "runs"


class FineTune(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win, self.doc = win, win.doc
        self.process = TrainingProcess(self)
        self.panel = TrainingPanel()
        self.dock = QDockWidget("Training", win)
        self.dock.setObjectName("trainingDock")
        self.dock.setWidget(self.panel)
        win.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.extra_args: list[str] = []  # more `main.py train` options (tests make runs tiny)
        self.epochs = 10
        self.run: dict | None = None  # name, dir, checkpoint, start event
        self._pending_switch: str | None = None
        self.process.event.connect(self._on_event)
        self.process.finished.connect(self._on_finished)
        self.panel.cancelRequested.connect(self.cancel)
        win.actions_["actionFineTune"].triggered.connect(self.ask_and_start)
        win.actions_["actionCancelTraining"].triggered.connect(self.cancel)
        win.inference.modelReady.connect(self._on_model_ready)
        win.session.opened.connect(lambda _n: self.rebuild_versions_menu())
        self.versions_menu = None

    # --------------------------------------------------------------- versions
    def registry(self) -> VersionRegistry | None:
        if self.doc.dataset is None or self.doc.coco_path is None:
            return None
        return VersionRegistry(state_dir(self.doc.coco_path, self.doc.dataset.image_root))

    def rebuild_versions_menu(self) -> None:
        menu = self.versions_menu
        if menu is None:
            return
        menu.clear()
        reg = self.registry()
        versions = reg.load() if reg is not None else []
        for v in reversed(versions):
            ap = v.get("val_segm_ap")
            act = QAction(f"{v['name']}  ({v.get('train_images')} images"
                          + (f", segm AP {ap:.3f}" if ap is not None else "") + ")", menu)
            act.setToolTip(v["checkpoint"])
            act.triggered.connect(lambda _c=False, p=v["checkpoint"]: self.win.model_panel.use_weights(p))
            menu.addAction(act)
        menu.setEnabled(bool(versions))

    # ------------------------------------------------------------------ start
    def ask_and_start(self) -> bool:
        if self.process.running:
            self.win.notifier.info("Fine-tune", "A training run is already going.")
            return False
        if self.doc.dataset is None:
            return False
        if (self.doc.dirty or self.doc.coco_path is None) and not self.win.save():
            return False
        coco = self.doc.coco_path
        try:
            ds = load_dataset(coco, self.doc.dataset.image_root)
            samples, _ = select_samples(ds)
        except TrainingDataError as e:
            self.win.notifier.error("Nothing to train on", str(e))
            return False
        spec = self.win.model_panel.model_spec()
        train_s, _ = split_train_val(samples, 0.2)
        dlg = FineTuneDialog(self.win, len(samples), class_counts(samples, ds), spec.weights,
                             spec.device, self.win.min_size or 800, cpu_threads_for_training(),
                             self.epochs)
        if not self.confirm(dlg):
            return False
        self.epochs = dlg.epochs.value()
        return self.start(coco, spec.weights, spec.device, self.epochs, len(train_s))

    def confirm(self, dlg: FineTuneDialog) -> bool:
        """Shows the dialog (tests replace this to press Start)."""
        return dlg.exec() == FineTuneDialog.Accepted

    def start(self, coco: Path, weights: str, device: str, epochs: int, n_train: int = 0) -> bool:
        reg = self.registry()
        name = reg.next_name()
        run_dir = state_dir(coco, self.doc.dataset.image_root) / RUNS / name
        run_dir.mkdir(parents=True, exist_ok=True)
        snapshot = run_dir / "train.json"
        shutil.copy2(coco, snapshot)  # training reads this copy; the user keeps editing
        out = run_dir / "model.pt"
        args = [str(snapshot), "--out", str(out), "--images", str(self.doc.dataset.image_root),
                "--weights", str(weights), "--device", device, "--epochs", str(epochs),
                "--model-id", name, "--threads", str(cpu_threads_for_training())]
        if self.win.min_size:
            args += ["--min-size", str(self.win.min_size)]
        if self.win.max_size:
            args += ["--max-size", str(self.win.max_size)]
        args += self.extra_args
        self.run = {"name": name, "dir": run_dir, "checkpoint": out, "start": {}, "history": []}
        self.panel.reset(f"Starting {name} from {weights} on {device}…")
        self.dock.show()
        self.dock.raise_()
        self.win.actions_["actionCancelTraining"].setEnabled(True)
        self.process.start(args, run_dir / "STOP", cwd=run_dir)
        return True

    def cancel(self) -> None:
        if self.process.running:
            self.panel.status.setText("Stopping after this iteration (the checkpoint is kept)…")
            self.process.cancel()

    # ----------------------------------------------------------------- events
    def _on_event(self, e: dict) -> None:
        self.panel.on_event(e)
        if self.run is not None and e.get("event") == "start":
            self.run["start"] = e

    def _on_finished(self, summary: dict) -> None:
        self.panel.on_finished(summary)
        self.win.actions_["actionCancelTraining"].setEnabled(False)
        run, self.run = self.run, None
        if run is None:
            return
        if summary.get("status") == "error":
            self.win.notifier.error("Training failed", summary.get("message", "unknown error"))
            return
        ckpt = Path(run["checkpoint"])
        if not ckpt.is_file():
            self.win.notifier.error("Training", f"{run['name']} ended without a checkpoint.")
            return
        history = C.load(ckpt).get("history", [])
        version = self.registry().add(run["name"], ckpt, summary, run["start"], history)
        if summary.get("status") == "finished":
            C.last_path(ckpt).unlink(missing_ok=True)  # resume state is no longer needed
        self.rebuild_versions_menu()
        self.offer_switch(version)

    def offer_switch(self, version: dict) -> None:
        todo = sum(1 for r in self.doc.dataset.images if r.status == "unreviewed")
        ap = version.get("val_segm_ap")
        answer = self.win.notifier.ask(
            "Fine-tune finished",
            f"Model {version['name']} is ready ({version['status']}"
            + (f", val segm AP {ap:.3f}" if ap is not None else "") + ").\n\n"
            f"Switch to it and re-predict the {todo} image(s) nobody has reviewed? "
            "Reviewed instances are never overwritten.",
            ["Switch and re-predict", "Switch only", "Keep the current model"],
            "Switch and re-predict")
        if answer in ("Switch and re-predict", "Switch only"):
            self._pending_switch = version["checkpoint"] if answer == "Switch and re-predict" else None
            self.win.model_panel.use_weights(version["checkpoint"])

    def _on_model_ready(self, info) -> None:
        if self._pending_switch and info.spec.weights == self._pending_switch:
            self._pending_switch = None
            self.win.inference.predict_all(only_unreviewed=True)

    def shutdown(self) -> None:
        self.process.stop_and_wait()
