"""Model -> Learn while I work (`main.py gui --learn`): training runs in the background,
in its own process (`main.py train --continuous`, as the one-click fine-tune runs), on
the reviewed images as the person finishes them.

The app's side of model/training/learn.py: it writes the snapshot of the reviewed images
(never the user's COCO file) whenever one is done or a reviewed one changes, and the
`in_use` file naming the version in use. At each checkpoint the process measures its model
and the version in use on the same held-out images; when the model beats it (the one rule,
model.training.learn.beats), it is registered as a version (.maskloop/models.json), becomes
the version in use, and the images nobody has reviewed are predicted again (the Document's
one apply path: reviewed work is never touched). The Training dock shows the run's curve
and the held-out AP of each checkpoint with its swap; the Rounds view lists each swap.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from model.data.atomic import atomic_write_bytes, atomic_write_json
from model.net import checkpoint as C
from model.training.anchors import native_size
from model.training.learn import beats
from model.training.versions import VersionRegistry

from ..document.document import Document
from ..document.session import Session
from ..inference.selection import ModelSelection
from ..notify import Notifier
from .controller import EVENTS, RUNS, FineTuneController, plain_name
from .process import TrainingProcess, cpu_threads_for_training
from .widgets import TrainingPanel

SNAPSHOT = "train.json"
IN_USE = "in_use.json"
SIZES = "sizes.json"  # the run's min/max size, so a resumed run trains at them again
MODEL = "model.pt"
DEBOUNCE_MS = 1500  # a burst of reviews costs one snapshot


class LearnController(QObject):
    runningChanged = Signal(bool)
    swapped = Signal(dict)  # the version that is in use now (models.json's entry)
    turnedOff = Signal()  # learning stopped itself (an error, or Cancel in the dock)

    def __init__(self, doc: Document, session: Session, selection: ModelSelection,
                 notifier: Notifier, panel: TrainingPanel, finetune: FineTuneController,
                 process_factory: Callable[[QObject], TrainingProcess] | None = None):
        super().__init__()
        self.doc, self.session, self.selection = doc, session, selection
        self.notifier, self.panel, self.finetune = notifier, panel, finetune
        self.process = (process_factory or TrainingProcess)(self)
        self.process.event.connect(self._on_event)
        self.process.finished.connect(self._on_finished)
        self.enabled = False
        self.extra_args: list[str] = []  # more `main.py train` options (tests make runs tiny)
        self.eval_every = 100
        # the run going on: name, dir, state folder, snapshot, in_use (what the file says),
        # its events and start event, the image ids of the last snapshot
        self.run: dict | None = None
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.write_snapshot)
        self._touched: set[int] = set()
        doc.imageStateChanged.connect(self._on_state)
        doc.instancesChanged.connect(lambda image_id, _rect: self._on_touched(image_id))
        session.opened.connect(lambda _n: self._on_opened())
        finetune.busy = lambda: self.process.running
        panel.cancelRequested.connect(self._on_cancel_requested)

    @property
    def running(self) -> bool:
        return self.process.running

    # ------------------------------------------------------------- on and off
    def set_enabled(self, on: bool) -> None:
        """The Model menu's toggle."""
        self.enabled = on
        if on and not self.process.running:
            self.start()
        elif not on and self.process.running:
            self.panel.status.setText("Stopping learning after this iteration (its state is "
                                      "kept; turning it on again goes on from there)…")
            self.process.cancel()

    def start(self) -> bool:
        if self.doc.dataset is None:
            self.panel.status.setText("Learning starts when a dataset is open.")
            return False
        if self.finetune.process.running:
            self.notifier.info("Learn while I work", "A fine-tune is running; turn learning "
                               "on again once it has ended.")
            self._turn_off()
            return False
        state = self.session.state_dir()
        weights = self.selection.spec.weights
        name, resume = self.resumable(weights)
        run_dir = state / RUNS / name
        run_dir.mkdir(parents=True, exist_ok=True)
        sizes = self._sizes(run_dir, resume)
        self.run = {"name": name, "dir": run_dir, "state": state, "events": [], "start": {},
                    "snapshot": run_dir / SNAPSHOT, "ids": None,
                    "dataset": self.session.display_name()}
        self.write_snapshot()
        self.write_in_use(weights, self._model_id(weights))
        args = [str(run_dir / SNAPSHOT), "--out", str(run_dir / MODEL),
                "--images", str(self.doc.dataset.image_root), "--all-images",
                "--weights", str(weights), "--device", self.selection.spec.device,
                "--continuous", "--in-use", str(run_dir / IN_USE), "--anchors", "auto",
                "--min-size", str(sizes[0]), "--max-size", str(sizes[1]),
                "--eval-every", str(self.eval_every), "--model-id", name,
                "--threads", str(cpu_threads_for_training())]
        if resume:
            args.append("--resume")
        args += self.extra_args
        self.panel.reset(("Going on with" if resume else "Starting") +
                         f" {name}: learning while you work from {Path(str(weights)).name}…")
        self.runningChanged.emit(True)
        self.process.start(args, run_dir / "STOP", cwd=run_dir)
        return True

    def _turn_off(self) -> None:
        self.enabled = False
        self.turnedOff.emit()

    def _on_cancel_requested(self) -> None:
        """The dock's Cancel button: learning is turned off (the toggle follows)."""
        if self.process.running:
            self.set_enabled(False)
            self._turn_off()

    def resumable(self, weights: str) -> tuple[str, bool]:
        """The run to go on with: the learning run the version in use came from, when its
        resume state is still there (its schedule, optimizer and held-out split go on);
        else a new run, from the version in use."""
        runs = self.session.state_dir() / RUNS
        for v in self.finetune.versions():
            run = v.get("learn_run")
            if v.get("checkpoint") == str(weights) and plain_name(run) \
                    and C.last_path(runs / run / MODEL).is_file():
                return run, True
        return f"learn-{dt.datetime.now():%Y%m%d-%H%M%S}", False

    def _sizes(self, run_dir: Path, resume: bool) -> tuple[int, int]:
        """Native resolution: the images' own median sides (model/training/anchors.py),
        or the sizes given on the command line; a resumed run keeps its own."""
        path = run_dir / SIZES
        if resume:
            try:
                got = json.loads(path.read_text(encoding="utf-8"))
                return int(got["min_size"]), int(got["max_size"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
        spec = self.selection.spec
        native = native_size(self.doc.dataset.images) or (800, 1333)
        lo = spec.min_size or native[0]
        hi = max(spec.max_size or native[1], lo)
        atomic_write_json(path, {"min_size": lo, "max_size": hi})
        return lo, hi

    def _model_id(self, weights: str) -> str | None:
        """The model id of a version (its name), None for other weights."""
        return self.finetune.version_name(str(weights))

    def stop_and_wait(self) -> None:
        self._timer.stop()
        self.process.stop_and_wait()

    shutdown = stop_and_wait

    # -------------------------------------------------------------- the files
    def write_snapshot(self) -> None:
        """The reviewed images as the COCO file would hold them, when they changed: a new
        image done (or one no longer), or a reviewed image edited. The process re-reads it
        between two iterations."""
        self._timer.stop()
        run = self.run
        touched, self._touched = self._touched, set()
        if run is None or self.doc.dataset is None or not self._here(run):
            return
        ids = sorted(self.finetune.summarize(False).image_ids)
        if ids == run["ids"] and not (touched & set(ids)):
            return
        self.finetune.snapshot(ids, run["snapshot"])
        run["ids"] = ids

    def write_in_use(self, weights: str, model_id: str | None) -> None:
        run = self.run
        if run is None:
            return
        run["in_use"] = str(weights)
        atomic_write_json(run["dir"] / IN_USE, {"weights": str(weights), "model_id": model_id})

    def _on_state(self, row: int) -> None:
        images = self.doc.dataset.images if self.doc.dataset is not None else []
        if 0 <= row < len(images):
            self._on_touched(images[row].id)

    def _on_touched(self, image_id: int) -> None:
        if self.run is not None:
            self._touched.add(image_id)
            self._timer.start()

    def _here(self, run: dict) -> bool:
        return self.doc.dataset is not None and self.session.state_dir() == run["state"]

    def _on_opened(self) -> None:
        """Another dataset: a run of the one before stops; learning starts on this one."""
        if self.process.running and self.run is not None and not self._here(self.run):
            self.process.cancel()  # _on_finished starts it again here
        elif self.enabled and not self.process.running:
            self.start()

    # ----------------------------------------------------------------- events
    def _on_event(self, e: dict) -> None:
        self.panel.on_event(e)
        run = self.run
        if run is None:
            return
        run["events"].append(e)
        if e.get("event") == "start":
            run["start"] = e
        elif e.get("event") == "heldout":
            self.judge(e)

    def judge(self, e: dict) -> bool:
        """A held-out measurement: swap when the model beats the version in use on the
        same images (model.training.learn.beats). A measurement against a version that is
        no longer in use (the person chose another meanwhile) swaps nothing; the process
        measures against the new one from its next checkpoint."""
        run = self.run
        cand = e.get("checkpoint")
        ours = isinstance(cand, str) and Path(cand).parent == run["dir"]  # the run's own file
        current = str(self.selection.spec.weights)
        if not beats(e.get("ap"), e.get("in_use_ap")) or not ours \
                or not self._here(run) or e.get("in_use") != run.get("in_use") \
                or run.get("in_use") != current:
            if ours:
                Path(cand).unlink(missing_ok=True)  # a model not swapped in is not kept
            if run.get("in_use") != current:  # say what is in use now
                self.write_in_use(current, self._model_id(current))
            return False
        self.swap(e)
        return True

    def swap(self, e: dict) -> dict | None:
        """Register the model as a version (its own folder, as a fine-tune's) and make it
        the version in use; the images nobody has reviewed are predicted again."""
        run = self.run
        name = e.get("model_id")
        if not plain_name(name):
            return None
        folder = run["state"] / RUNS / name
        folder.mkdir(parents=True, exist_ok=True)
        ckpt = folder / MODEL
        try:
            os.replace(e["checkpoint"], ckpt)
        except OSError as err:
            self.panel.status.setText(f"The model of iteration {e.get('iteration')} could not "
                                      f"be kept ({err}); the version in use stays")
            return None
        summary = {"status": "learning", "iterations": e.get("iteration"),
                   "best_segm_ap": e.get("ap")}
        start = dict(run["start"], val_images=e.get("images"))
        version = VersionRegistry(run["state"]).add(
            name, ckpt, summary, start, [],
            extra={"learn_run": run["name"], "swapped_in": dt.datetime.now().isoformat(
                timespec="seconds"), "held_out_ap": e.get("ap"),
                "held_out_images": e.get("images"), "replaced": run.get("in_use"),
                "replaced_ap": e.get("in_use_ap")})
        self.write_in_use(str(ckpt), name)
        self.finetune.rebuild_versions_menu()
        self.panel.mark_swap(int(e.get("iteration") or 0), name)
        self.finetune.use_version(str(ckpt), repredict=True)
        self.swapped.emit(version)
        return version

    def _on_finished(self, summary: dict) -> None:
        self._timer.stop()
        self.panel.on_finished(summary)
        run, self.run = self.run, None
        self.runningChanged.emit(False)
        if run is not None:
            try:  # the dock can show this run again
                atomic_write_bytes(Path(run["dir"]) / EVENTS, "".join(
                    json.dumps(e) + "\n" for e in run["events"]).encode("utf-8"))
            except (OSError, TypeError, ValueError):
                pass
            for left in Path(run["dir"]).glob(f"{Path(MODEL).stem}.cand*.pt"):
                left.unlink(missing_ok=True)  # measured after the last swap, not kept
        if summary.get("status") == "error":
            self._turn_off()
            self.notifier.error("Learning stopped", summary.get("message", "unknown error"))
            return
        if self.enabled and self.doc.dataset is not None:
            self.start()  # another dataset was opened meanwhile
