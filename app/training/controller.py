"""One-click fine-tune: the dialog shows the training set by the one rule of
model/review.py; Start writes a snapshot of those images (never the user's COCO
file), trains in a QProcess with a live dock, registers the checkpoint as a model
version, then offers to switch to it and re-predict the images nobody has reviewed
(reviewed instances are never touched)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from model.net import checkpoint as C
from model.data.annotations import Dataset
from model.data.atomic import atomic_write_bytes
from model.data.coco import save_dataset
from model.data.images import outside
from model.errors import WeightsError
from model.editing.review import TrainingSet, training_set
from model.training.versions import VersionRegistry

from ..document.document import Document
from ..document.session import Session
from ..inference.controller import InferenceController
from ..inference.selection import ModelSelection
from ..notify import Notifier
from .process import TrainingProcess, cpu_threads_for_training
from .widgets import FineTuneDialog, TrainingPanel

RUNS = "runs"
EVENTS = "events.jsonl"  # a run's progress events, written when it ends, for the dock
MAX_EVENTS_BYTES = 32 << 20  # a larger events file is not read back


def plain_name(name: object) -> bool:
    """A run folder's name from models.json (data): one plain path part, nothing more."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name \
        and "\\" not in name and "\0" not in name


def read_events(path: Path) -> list:
    """A run's events as its dock showed them; [] when missing, too large or unreadable
    (lines that are not JSON objects are skipped)."""
    try:
        if path.stat().st_size > MAX_EVENTS_BYTES:
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in lines:
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(e, dict):
            out.append(e)
    return out


class FineTuneController(QObject):
    runningChanged = Signal(bool)
    versionsChanged = Signal(object)  # the open dataset's model versions (versions())

    def __init__(self, doc: Document, session: Session, selection: ModelSelection,
                 inference: InferenceController, notifier: Notifier, panel: TrainingPanel,
                 dialog_parent: QWidget, versions_menu: QMenu):
        super().__init__()
        self.doc, self.session, self.selection = doc, session, selection
        self.inference, self.notifier = inference, notifier
        self.panel, self.dialog_parent, self.versions_menu = panel, dialog_parent, versions_menu
        self.process = TrainingProcess(self)
        self.extra_args: list[str] = []  # more `main.py train` options (tests make runs tiny)
        self.busy: Callable[[], bool] = lambda: False  # another training process runs (learning)
        self.epochs = 10
        # the run going on: name, dir, checkpoint, start event, its events, and the state
        # folder and name of the dataset it trains (another may be open by its end)
        self.run: dict | None = None
        self._pending_switch: str | None = None
        self.process.event.connect(self._on_event)
        self.process.finished.connect(self._on_finished)
        self.panel.cancelRequested.connect(self.cancel)
        inference.modelReady.connect(self._on_model_ready)
        inference.modelFailed.connect(lambda *_: setattr(self, "_pending_switch", None))
        session.opened.connect(lambda _n: self._on_opened())

    # --------------------------------------------------------------- versions
    def registry(self) -> VersionRegistry | None:
        if self.doc.dataset is None:
            return None
        return VersionRegistry(self.session.state_dir())

    def version_name(self, weights: str) -> str | None:
        """The open dataset's name for a checkpoint it trained (None: not one of them)."""
        if not weights or self.doc.dataset is None:
            return None
        try:
            target = Path(weights).resolve()
            return next((v["name"] for v in self.versions()
                         if Path(v["checkpoint"]).resolve() == target), None)
        except (OSError, ValueError):
            return None

    def versions(self) -> list[dict]:
        """The open dataset's model versions whose run folder is inside its state
        folder: models.json is data, so a name or path in it that leads elsewhere
        (../, an absolute path) is not followed."""
        reg = self.registry()
        if reg is None:
            return []
        runs = self.session.state_dir() / RUNS
        out = []
        for v in reg.load():
            if not isinstance(v, dict) or not isinstance(v.get("name"), str) \
                    or not isinstance(v.get("checkpoint"), str):
                continue
            run_dir = runs / v["name"]
            if outside(run_dir, runs) or outside(Path(v["checkpoint"]), run_dir):
                continue
            out.append(v)
        return out

    def rebuild_versions_menu(self) -> None:
        menu = self.versions_menu
        menu.clear()
        versions = self.versions()
        for v in reversed(versions):
            ap = v.get("val_segm_ap")
            act = QAction(f"{v['name']}  ({v.get('train_images')} images"
                          + (f", segm AP {ap:.3f}" if ap is not None else "") + ")", menu)
            act.setToolTip(v["checkpoint"])
            act.triggered.connect(lambda _c=False, p=v["checkpoint"]: self.selection.choose(p))
            menu.addAction(act)
        menu.setEnabled(bool(versions))
        self.versionsChanged.emit(versions)

    # ------------------------------------------------------------------ start
    def summarize(self, include_corrected: bool) -> TrainingSet:
        """The training set as the user sees the dataset (the score threshold applies)."""
        return training_set(self.doc.dataset.images, include_corrected, self.doc.threshold)

    def ask_and_start(self) -> bool:
        """Show what training would use; nothing is written until Start."""
        if self.process.running or self.busy():
            self.notifier.info("Fine-tune", "A training run is already going" +
                               (" (Model → Learn while I work: turn it off to fine-tune)."
                                if self.busy() else "."))
            return False
        if self.doc.dataset is None:
            return False
        spec = self.selection.spec
        dlg = FineTuneDialog(self.dialog_parent, self.summarize,
                             self.doc.dataset.category_names(), spec.weights, spec.device,
                             spec.min_size or 800, cpu_threads_for_training(), self.epochs)
        if not self.confirm(dlg):
            return False
        self.epochs = dlg.epochs.value()
        return self.start(dlg.summary, spec.weights, spec.device, self.epochs)

    def confirm(self, dlg: FineTuneDialog) -> bool:
        """Shows the dialog (tests replace this to press Start)."""
        return dlg.exec() == FineTuneDialog.Accepted

    def snapshot(self, image_ids: list[int], path: Path) -> None:
        """The chosen images as the COCO file would hold them, for the training process."""
        data = self.doc.data_view()
        keep = set(image_ids)
        snap = Dataset(data.categories, [r for r in data.images if r.id in keep],
                       data.image_root, None, data.extra)
        snap.key_order = data.key_order
        save_dataset(snap, path)

    def start(self, summary: TrainingSet, weights: str, device: str, epochs: int) -> bool:
        if not summary.used:
            self.notifier.error("Nothing to train on", "No image is reviewed yet: mark images "
                                "done (M), or decide every instance on an image.")
            return False
        reg = self.registry()
        name = reg.next_name()
        run_dir = self.session.state_dir() / RUNS / name
        run_dir.mkdir(parents=True, exist_ok=True)
        snapshot = run_dir / "train.json"
        self.snapshot(summary.image_ids, snapshot)  # training reads this; the user keeps editing
        out = run_dir / "model.pt"
        spec = self.selection.spec
        args = [str(snapshot), "--out", str(out), "--images", str(self.doc.dataset.image_root),
                "--all-images", "--weights", str(weights), "--device", device,
                "--epochs", str(epochs), "--model-id", name,
                "--threads", str(cpu_threads_for_training())]
        if self.session.follow_symlinks:  # the images it opened, training may open too
            args.append("--follow-symlinks")
        if spec.min_size:
            args += ["--min-size", str(spec.min_size)]
        if spec.max_size:
            args += ["--max-size", str(spec.max_size)]
        args += self.extra_args
        self.run = {"name": name, "dir": run_dir, "checkpoint": out, "start": {}, "events": [],
                    "state": self.session.state_dir(), "dataset": self.session.display_name()}
        self.panel.reset(f"Starting {name} from {weights} on {device} "
                         f"({summary.used} image(s))…")
        self.runningChanged.emit(True)
        self.process.start(args, run_dir / "STOP", cwd=run_dir)
        return True

    def cancel(self) -> None:
        if self.process.running:
            self.panel.status.setText("Stopping after this iteration (the checkpoint is kept)…")
            self.process.cancel()

    # ----------------------------------------------------------------- events
    def _on_event(self, e: dict) -> None:
        self.panel.on_event(e)
        if self.run is not None:
            self.run["events"].append(e)
            if e.get("event") == "start":
                self.run["start"] = e

    # ------------------------------------------------------- the dock per dataset
    def _here(self, run: dict) -> bool:
        """Is the dataset the run trains the one open now?"""
        return self.doc.dataset is not None and self.session.state_dir() == run["state"]

    def _on_opened(self) -> None:
        """Another dataset: the dock shows its last run, or says it has none. A run of
        the dataset before goes on and keeps the dock until it ends, named as such."""
        self.rebuild_versions_menu()
        run = self.run
        if run is None:
            self.show_last_run()
        elif not self._here(run):
            self.panel.status.setText(f"{run['name']} is training {run['dataset']} (opened "
                                      "before); this dock shows it until it ends")

    def show_last_run(self) -> None:
        versions = self.versions()
        name = self.session.display_name() if self.doc.dataset is not None else ""
        if not versions:
            self.panel.clear(f"No training yet on {name}. Model → Fine-tune… starts one."
                             if name else "No training yet. Model → Fine-tune… starts one.")
            return
        v = versions[-1]
        run = v.get("learn_run")  # a swap of learning while you work: that run's events
        folder = run if plain_name(run) else v["name"]
        events = read_events(self.session.state_dir() / RUNS / folder / EVENTS)
        self.panel.show_run(events, f"Last run on {name}: {v['name']} ({v.get('status')}, "
                                    f"{v.get('created', '')})")

    def _on_finished(self, summary: dict) -> None:
        self.panel.on_finished(summary)
        self.runningChanged.emit(False)
        run, self.run = self.run, None
        if run is None:
            return
        here = self._here(run)
        try:  # the dock can show this run again after another dataset was open
            atomic_write_bytes(Path(run["dir"]) / EVENTS, "".join(
                json.dumps(e) + "\n" for e in run["events"]).encode("utf-8"))
        except (OSError, TypeError, ValueError):
            pass
        if summary.get("status") == "error":
            self.notifier.error("Training failed", summary.get("message", "unknown error"))
            return
        ckpt = Path(run["checkpoint"])
        if not ckpt.is_file():
            self.notifier.error("Training", f"{run['name']} ended without a checkpoint.")
            return
        try:
            history = C.load(ckpt).get("history", [])
        except (WeightsError, OSError, ValueError) as e:  # never an exception in a Qt slot
            self.notifier.error("Training", f"{run['name']}: its checkpoint cannot be read: {e}")
            return
        version = VersionRegistry(run["state"]).add(run["name"], ckpt, summary, run["start"],
                                                    history)
        if summary.get("status") == "finished":
            C.last_path(ckpt).unlink(missing_ok=True)  # resume state is no longer needed
        if not here:  # registered with the dataset it trained; the dock shows this one's
            self.notifier.info("Fine-tune finished",
                               f"Model {run['name']} of {run['dataset']} is ready "
                               f"({version['status']}). It is listed under Model → Model "
                               f"versions when that dataset is open; Model → Open checkpoint… "
                               f"uses it here:\n{ckpt}")
            self.show_last_run()
            return
        self.rebuild_versions_menu()
        self.offer_switch(version)

    def offer_switch(self, version: dict) -> None:
        todo = sum(1 for r in self.doc.dataset.images if r.status == "unreviewed")
        ap = version.get("val_segm_ap")
        answer = self.notifier.ask(
            "Fine-tune finished",
            f"Model {version['name']} is ready ({version['status']}"
            + (f", val segm AP {ap:.3f}" if ap is not None else "") + ").\n\n"
            f"Switch to it and re-predict the {todo} image(s) nobody has reviewed? "
            "Reviewed instances are never overwritten.",
            ["Switch and re-predict", "Switch only", "Keep the current model"],
            "Switch and re-predict")
        if answer in ("Switch and re-predict", "Switch only"):
            self.use_version(version["checkpoint"], answer == "Switch and re-predict")

    def use_version(self, checkpoint: str, repredict: bool) -> None:
        """Make a version the model in use; with `repredict`, once it is loaded, the
        images nobody has reviewed are predicted again (through the Document's one apply
        path: reviewed instances are never touched)."""
        self._pending_switch = checkpoint if repredict else None
        self.selection.choose(checkpoint)

    def _on_model_ready(self, info) -> None:
        if self._pending_switch and info.spec.weights == self._pending_switch:
            self._pending_switch = None
            self.inference.predict_all(only_unreviewed=True)

    def shutdown(self) -> None:
        self.process.stop_and_wait()
