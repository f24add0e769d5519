"""The Evaluation dock's controller: after a fine-tune it shows the run's val report
(OUT.eval.json, written by training from the same evaluation as its val AP), and when a
dataset opens, its last run's; Model -> Evaluate on done images measures the current
model on the images whose labels are truth (done or fully decided), in the background;
a class or confusion cell clicked filters the image list."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from model.editing.review import training_set
from model.errors import ImageReadError
from model.formats.sources import shown_warnings
from model.training.checkpoints import eval_path
from model.training.evaluation import TruthImage, truth_record

from ..document.document import Document
from ..inference.controller import InferenceController
from ..inference.evaluation_worker import EvaluationJob, EvaluationWorker, Outcome
from ..notify import Notifier
from ..panels.evaluation import NO_EVALUATION, EvaluationPanel
from ..panels.image_list import ImageListPanel

MAX_REPORT_BYTES = 64 << 20  # a larger report file is not read


def read_report(path: Path) -> dict | None:
    """A report file, or None when missing, too large or not a JSON object."""
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def describe(name: str, o: Outcome) -> str:
    """What was measured, said so that a flattering figure cannot pass for a fair one."""
    if o.trained_left_out:
        return (f"{name} on {plural(o.evaluated, 'done image')} it was not trained on "
                f"({o.trained_on} it was trained on left out)")
    if o.trained_on:
        return (f"{name} on {plural(o.evaluated, 'done image')}, all in its training set: "
                "these figures flatter it")
    return f"{name} on {plural(o.evaluated, 'done image')}"


class EvaluationController(QObject):
    message = Signal(str)  # for the status bar
    started = Signal()  # an evaluation on done images began (the window shows the dock)
    ended = Signal(str, object)  # "finished" / "cancelled" / "failed", its report or None

    def __init__(self, panel: EvaluationPanel, images: ImageListPanel, finetune,
                 doc: Document, inference: InferenceController, notifier: Notifier,
                 factory, reader=None):
        super().__init__()
        self.panel, self.images, self.finetune = panel, images, finetune
        self.doc, self.inference, self.notifier = doc, inference, notifier
        self.worker = EvaluationWorker(factory, reader)
        self._ids = itertools.count(1)
        self.job: EvaluationJob | None = None  # the one running, whose results are shown
        self._name = ""  # the model's, as the versions menu calls it
        self._left_out: list[str] = []  # images whose path cannot be followed
        panel.imagesChosen.connect(images.set_image_filter)
        panel.cancelRequested.connect(self.cancel)
        finetune.process.finished.connect(lambda _s: self.show_last_run())
        finetune.session.opened.connect(lambda _n: self.show_last_run())
        doc.datasetReset.connect(self._on_dataset_reset)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)

    # ------------------------------------------------------ evaluate on done images
    @property
    def running(self) -> bool:
        return self.job is not None

    def evaluate_done(self) -> bool:
        """Measure the current model on the done and fully decided images. Their labels
        are taken as they are now; later edits do not change a running evaluation."""
        ds = self.doc.dataset
        if ds is None:
            self.message.emit("Open a dataset first: the evaluation needs images marked done")
            return False
        info = self.inference.info
        if info is None:
            self.message.emit("No model to evaluate: choose weights in the toolbar or "
                              "Model → Open checkpoint…")
            return False
        chosen = set(training_set(ds.images).image_ids)
        images, left_out = [], []
        for rec in ds.images:
            if rec.id not in chosen:
                continue
            try:
                images.append(TruthImage(truth_record(rec), ds.image_path(rec)))
            except ImageReadError as e:
                left_out.append(str(e))
        if not images:
            self.notifier.info("Nothing to evaluate on", "No image is marked done (M) or has "
                               "every instance decided yet: the evaluation compares the model "
                               "with labels you have checked.")
            return False
        self.cancel()
        self.job = EvaluationJob(next(self._ids), info.spec, list(ds.categories), images)
        self._name = self.finetune.version_name(info.spec.weights) or info.model_id
        self._left_out = left_out
        self.panel.set_running(True, 0, len(images))
        self.started.emit()
        self.worker.start(self.job)
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.worker.cancel()

    def _current(self, job_id: int) -> bool:
        return self.job is not None and self.job.job_id == job_id

    def _end(self) -> None:
        self.job = None
        self.panel.set_running(False)

    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if self._current(job_id):
            self.panel.set_running(True, done, total)

    def _on_finished(self, job_id: int, report: dict, outcome: Outcome) -> None:
        if not self._current(job_id):
            return
        self._end()
        title = describe(self._name, outcome)
        left_out = self._left_out + outcome.unreadable
        if left_out:
            title += f" ({len(left_out)} left out: cannot be read)"
            self.notifier.warning("Images left out of the evaluation",
                                  "\n".join(shown_warnings(left_out, 10)))
        self.panel.show_report(report, title)
        self.message.emit(f"Evaluated {title}")
        if outcome.records:  # the offer gate's held-out evidence for this version
            self.inference.gate.add_heldout(outcome.version, outcome.records)
        self.ended.emit("finished", report)

    def _on_failed(self, job_id: int, why: str) -> None:
        if self._current(job_id):
            self._end()
            self.panel.clear(f"{self._name}: the evaluation failed")
            self.notifier.error("Evaluation failed", why)
            self.ended.emit("failed", None)

    def _on_cancelled(self, job_id: int) -> None:
        if self._current(job_id):
            self._end()
            self.message.emit("Evaluation cancelled")
            self.ended.emit("cancelled", None)

    def _on_dataset_reset(self) -> None:
        if self.job is not None:
            self.worker.cancel()
            self._end()
            self.ended.emit("cancelled", None)

    def shutdown(self) -> None:
        self.worker.shutdown()

    def show_checkpoint(self, checkpoint: Path, title: str) -> bool:
        report = read_report(eval_path(Path(checkpoint)))
        if report is None:
            self.panel.clear(f"{title}: no evaluation was written (no image was held out)")
            return False
        return self.panel.show_report(report, title)

    def show_last_run(self) -> None:
        """The open dataset's last model version, evaluated on its val split."""
        versions = self.finetune.versions()
        if not versions:
            self.panel.clear(NO_EVALUATION)
            return
        v = versions[-1]
        self.show_checkpoint(Path(v["checkpoint"]), f"{v['name']} on its val split")
