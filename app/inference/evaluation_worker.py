"""Model -> Evaluate on done images, off the UI thread.

The job loads its own copy of the current model (the prediction worker's one keeps
serving the images the user looks at, as a fine-tune's process does), predicts each
image and runs COCOeval (model/training/evaluation.py). Cancel is an Event checked
between images and inside the model, so Cancel or a new dataset stops it within one
image; the copy is dropped when the job ends.

Done images are what fine-tuning trains on, so a model version has usually seen most of
them: the images its checkpoint lists as trained on (Predictor.trained_on) are left out
whenever any others remain; when none remain, all are used and the result says so.
"""
from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import Signal

from model.data.annotations import Category
from model.errors import Cancelled
from model.training.evaluation import TruthImage

from .workers import ModelSpec, PredictorFactory, QueueWorker, default_factory


@dataclass
class Outcome:
    evaluated: int  # images predicted and evaluated (the unreadable ones included)
    trained_on: int  # of the job's images, those the model was trained on
    trained_left_out: bool  # True: those were left out; False: none or all were used
    unreadable: list[str]  # one line for each image left out because it cannot be read
    version: str = ""  # the model's id
    records: dict = field(default_factory=dict)  # image id -> the offer gate's records of
    # the images it did not train on (model/effort/gate_records.heldout_records)


@dataclass
class EvaluationJob:
    job_id: int
    spec: ModelSpec
    categories: list[Category]
    images: list[TruthImage]
    cancel: threading.Event = field(default_factory=threading.Event)


class EvaluationWorker(QueueWorker):
    progress = Signal(int, int, int)  # job id, images done, total
    finished = Signal(int, object, object)  # job id, report, Outcome
    failed = Signal(int, str)  # job id, why
    cancelled = Signal(int)  # job id

    def __init__(self, factory: PredictorFactory = default_factory,
                 reader: Callable[[Path], np.ndarray] | None = None):
        super().__init__("maskloop-evaluation")
        from model.data.images import read_image
        self._factory = factory
        self._read = reader or read_image
        self._job: EvaluationJob | None = None  # queued, not started
        self._running: EvaluationJob | None = None

    @property
    def busy(self) -> bool:
        """A job is queued or running (a cancelled one counts until it has returned)."""
        with self._lock:
            return self._job is not None or self._running is not None

    def start(self, job: EvaluationJob) -> None:
        """The newest job wins: a queued one is dropped, a running one cancelled."""
        with self._lock:
            for old in (self._job, self._running):
                if old is not None:
                    old.cancel.set()
            self._job = job
        self.wake()

    def cancel(self) -> None:
        with self._lock:
            for job in (self._job, self._running):
                if job is not None:
                    job.cancel.set()

    def _on_stop(self) -> None:
        self.cancel()

    def _next_task(self):
        with self._lock:
            job, self._job = self._job, None
            self._running = job
        return None if job is None else (lambda: self._run(job))

    def _run(self, job: EvaluationJob) -> None:
        from model.training.evaluation import evaluate_model
        s = job.spec
        try:
            if job.cancel.is_set():
                raise Cancelled()
            predictor = self._factory(weights=s.weights, device=s.device,
                                      score_threshold=s.score_floor, min_size=s.min_size,
                                      max_size=s.max_size, cancel=job.cancel)
            seen = predictor.trained_on
            unseen = [i for i in job.images if i.rec.file_name not in seen]
            images = unseen or job.images
            pairs = []  # the images it did not train on, with its predictions

            def keep(rec, preds):
                if rec.file_name not in seen:
                    pairs.append((rec, preds))
            report, unreadable = evaluate_model(
                predictor, job.categories, images, self._read, cancel=job.cancel,
                progress=lambda done, total: self.progress.emit(job.job_id, done, total),
                on_image=keep)
            trained = len(job.images) - len(unseen)
            from model.effort.gate_records import heldout_records
            records = heldout_records(pairs, job.categories, list(predictor.categories),
                                      predictor.model_id)
            outcome = Outcome(len(images), trained, bool(unseen) and trained > 0, unreadable,
                              predictor.model_id, records)
        except Cancelled:
            self.cancelled.emit(job.job_id)
        except Exception as e:  # a model or data problem: one message, the app goes on
            msg = str(e) or type(e).__name__
            self.failed.emit(job.job_id, f"{msg}\n\n{traceback.format_exc(limit=3)}")
        else:
            self.finished.emit(job.job_id, report, outcome)
        finally:
            with self._lock:
                self._running = None
