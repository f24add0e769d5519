"""Prediction scheduling: the current image first, the next ones prefetched, and
predict-all; results go to the Document's one writer.

The next images in the review queue's order (model/editing/queue.py: the image list's,
filter applied) are prefetched whatever the current one holds (annotations, cached
predictions, done): while a person works on one image the worker predicts the ones D
shows next. A request stays asked for until its result comes or it is left out of a
newer list, so nothing is predicted twice.

Results for an image a history step refers to are applied only when the user asked
for that image (Predict): a background result there would add a step to the user's
history behind their back, so it is left out and counted instead. A request made
while the model loads waits for it; no dialog.
"""
from __future__ import annotations

import gc
import itertools
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from model.data.annotations import ImageRecord
from model.errors import ImageReadError

from ..document.document import Document
from ..notify import Notifier
from .gate import GateController
from .pixels import PixelSource
from .workers import (InferenceWorker, ModelInfo, ModelSpec, PredictRequest, PredictorFactory,
                      default_factory)


class InferenceController(QObject):
    stateChanged = Signal(str)
    message = Signal(str)  # for the status bar
    hint = Signal(str)  # while a request waits for the model ("": it no longer does)
    modelChanged = Signal(str)  # one line for the status bar
    modelReady = Signal(object)  # ModelInfo
    modelFailed = Signal(str, object)  # why; the ModelInfo still in use (None: no model)
    outOfMemory = Signal(str)  # message: the GPU ran out; the window offers the CPU
    batchProgress = Signal(int, int, float)  # done, total, ETA
    batchRunning = Signal(bool)
    downloadProgress = Signal(int, int)
    predictionApplied = Signal(int, int)  # image id, instances added
    predictionSkipped = Signal(int, str)  # image id, why

    def __init__(self, doc: Document, notifier: Notifier,
                 factory: PredictorFactory = default_factory,
                 reader: Callable[[Path], np.ndarray] | None = None, prefetch: int = 2):
        super().__init__()
        self.doc, self.notifier = doc, notifier
        self.auto_predict = True
        self.pixels = PixelSource(doc, reader, prefetch)
        self.pixelsReady = self.pixels.pixelsReady
        self.pixelsFailed = self.pixels.pixelsFailed
        self.worker = InferenceWorker(factory, reader)
        self.spec: ModelSpec | None = None
        self.info: ModelInfo | None = None
        self.model_error: str | None = None
        self.batch_active = False
        self._queued: tuple | None = None  # a predict asked for while the model loads
        self._ids = itertools.count(1)
        self._latest: dict[int, int] = {}  # image id -> newest prediction request id
        self._asked: list[PredictRequest] = []  # the interactive list the worker has now
        self._batch_skipped: set[str] = set()  # images a batch left as they were
        self._batch_failed: list[str] = []
        self._batch_unreadable: set[int] = set()  # images a batch could not read
        self.pixels.loaded.connect(lambda _i: self.maybe_auto_predict())
        w = self.worker
        w.predicted.connect(self._on_predicted)
        w.failed.connect(self._on_failed)
        w.unreadable.connect(self._on_unreadable)
        w.progress.connect(self.batchProgress)
        w.batchFinished.connect(self._on_batch_finished)
        w.modelReady.connect(self._on_model_ready)
        w.modelFailed.connect(self._on_model_failed)
        w.downloadProgress.connect(self.downloadProgress)
        w.stateChanged.connect(self.stateChanged)
        doc.datasetReset.connect(self._latest.clear)
        self.gate = GateController(doc, self)  # the offer gate and the box route's choice
        doc.currentChanged.connect(lambda _r: self.maybe_auto_predict())  # after the pixels'

    # ------------------------------------------------------------------ model
    @property
    def loading(self) -> bool:
        return self.spec is not None and self.info is None and self.model_error is None

    def set_model(self, spec: ModelSpec) -> None:
        """Swap the model; the worker does it between requests."""
        self.spec = spec
        self.info = None
        self.model_error = None
        self._latest.clear()  # results of the old model are stale now
        self.modelChanged.emit("loading the model…")
        self.worker.load_model(spec)

    def _on_model_ready(self, info: ModelInfo) -> None:
        if self.spec is not None and info.spec != self.spec:
            return  # a newer request is on its way
        self.info = info
        self.hint.emit("")
        # the model and the imports are here to stay: keep the cyclic GC from walking
        # them again (a full collection of this heap pauses the window for 100+ ms)
        gc.freeze()
        self.modelChanged.emit(f"{info.model_id} · {info.device}")
        self.modelReady.emit(info)
        queued, self._queued = self._queued, None
        if queued is not None:
            queued[0](*queued[1:])
        else:
            self.maybe_auto_predict()

    def _on_model_failed(self, spec: ModelSpec, message: str, kept: ModelInfo | None) -> None:
        if self.spec is None or spec != self.spec:
            return  # a newer request is on its way
        self.hint.emit("")
        if kept is not None:  # the worker still has the model that worked: it stays
            self.spec, self.info, self.model_error = kept.spec, kept, None
            self.modelChanged.emit(f"{kept.model_id} · {kept.device}")
            self.modelFailed.emit(message, kept)
            queued, self._queued = self._queued, None
            if queued is not None:
                queued[0](*queued[1:])
            else:
                self.maybe_auto_predict()
            return
        self.info = None
        self.model_error = message
        self._queued = None  # the one dialog about the model covers the queued request
        self.modelChanged.emit("no model")
        self.modelFailed.emit(message, None)

    def _ready(self, retry: tuple) -> bool:
        """Is there a model? While one loads, the request waits for it."""
        if self.info is not None:
            return True
        if self.loading:
            self._queued = retry
            self.hint.emit("The model is still loading; the prediction is queued and "
                           "starts as soon as it is ready")
        else:
            why = self.model_error or "no model is selected"
            self.message.emit(f"No model to predict with ({why.splitlines()[0][:120]}). "
                              "Choose weights in the toolbar or Model → Open checkpoint…")
        return False

    # ------------------------------------------------------------- prediction
    def _needs_prediction(self, rec: ImageRecord) -> bool:
        return not rec.instances and rec.status != "done" \
            and rec.prediction_model != (self.info.model_id if self.info else None)

    def _pending(self, image_id: int) -> PredictRequest | None:
        """The interactive request for this image still waiting for its result."""
        rid = self._latest.get(image_id)
        return next((r for r in self._asked if r.image_id == image_id and r.request_id == rid),
                    None)

    def _send(self, reqs: list[PredictRequest]) -> None:
        """Hand the worker its new interactive list (it replaces the old one). A request
        left out is abandoned, so its image can be asked for again."""
        wanted = {r.image_id for r in reqs}
        for old in self._asked:
            if old.image_id not in wanted and self._latest.get(old.image_id) == old.request_id:
                del self._latest[old.image_id]
        self._asked = list(reqs)
        self.worker.predict(reqs)

    def _prefetch_requests(self, current: ImageRecord) -> list[PredictRequest]:
        """The next images in the list's order that were never predicted by this model:
        one asked for already keeps its request; one a batch has is left to it."""
        out = []
        for rec in self.pixels.neighbours(self.doc.row):
            if rec is current or not self._needs_prediction(rec):
                continue
            req = self._pending(rec.id)
            if req is None and rec.id in self._latest:
                continue  # predict-all has it queued
            out.append(req or self._request(rec))
        return [r for r in out if r is not None]

    def maybe_auto_predict(self) -> None:
        """The current image once its pixels are here, when it needs a prediction; the
        next images in the list's order whatever the current one holds."""
        rec = self.doc.current
        if not (self.auto_predict and self.info is not None and rec is not None):
            return
        cur = self._pending(rec.id)
        if cur is None and self._needs_prediction(rec):
            if rec.id in self.pixels.cache:
                self.predict_current(explicit=False)
            return  # the current image goes first, from the pixels being decoded
        reqs = ([cur] if cur is not None else []) + self._prefetch_requests(rec)
        still = [r for r in self._asked if self._pending(r.image_id) is r]
        if [r.request_id for r in reqs] != [r.request_id for r in still]:
            self._send(reqs)

    def _request(self, rec: ImageRecord, explicit: bool = False) -> PredictRequest | None:
        rid = next(self._ids)
        self._latest[rec.id] = rid
        image = self.pixels.rgb(rec.id)
        if image is not None:
            return PredictRequest(rid, rec.id, image=image, explicit=explicit)
        try:
            return PredictRequest(rid, rec.id, path=self.doc.dataset.image_path(rec),
                                  explicit=explicit)
        except ImageReadError as e:
            self.pixels.mark_unreadable(rec.id, str(e))
            return None

    def predict_current(self, explicit: bool = True) -> bool:
        """Predict the current image now, then prefetch predictions for the next ones."""
        rec = self.doc.current
        if rec is None or not self._ready((self.predict_current, explicit)):
            return False
        reqs = [self._request(rec, explicit)]
        if self.auto_predict:
            reqs += self._prefetch_requests(rec)
        reqs = [r for r in reqs if r is not None]
        self._send(reqs)
        return bool(reqs)

    def predict_all(self, include_done: bool = False, only_unreviewed: bool = False) -> int:
        """Queue every image not done (or every image, or only those nobody started).
        Images you changed in this session are left out: a background result there
        would not be applied anyway (see _on_predicted); they are counted instead."""
        if self.doc.dataset is None or not self._ready((self.predict_all, include_done,
                                                        only_unreviewed)):
            return 0
        reqs, changed = [], []
        for rec in self.doc.dataset.images:
            if only_unreviewed and rec.status != "unreviewed":
                continue
            if include_done or rec.status != "done":
                if self.doc.has_history(rec):
                    changed.append(rec.file_name)
                    continue
                req = self._request(rec)
                if req is not None:
                    reqs.append(req)
        self._batch_skipped, self._batch_failed = set(changed), []
        self._batch_unreadable = set()
        if reqs:
            self.batch_active = True
            self.batchRunning.emit(True)
            self.batchProgress.emit(0, len(reqs), 0.0)
            self.worker.predict_all(reqs)
        elif changed:
            self._say_skipped()
        return len(reqs)

    def cancel(self) -> None:
        self.worker.cancel_batch()

    def _on_batch_finished(self, cancelled: bool) -> None:
        gc.freeze()  # a batch of predictions is long-lived: keep it out of full GC walks
        self.batch_active = False
        self.batchRunning.emit(False)
        self.stateChanged.emit("predict-all cancelled" if cancelled else "predict-all finished")
        self._say_skipped()
        if self._batch_unreadable:
            self.message.emit(f"{len(self._batch_unreadable)} image(s) cannot be read; the "
                              "image list marks them (its tooltip says why)")
        if self._batch_failed:
            shown = "\n".join(self._batch_failed[:10])
            more = len(self._batch_failed) - 10
            self.notifier.error("Prediction failed", f"{len(self._batch_failed)} image(s) could "
                                f"not be predicted:\n{shown}" + (f"\n… and {more} more"
                                                                 if more > 0 else ""))

    def _say_skipped(self) -> None:
        if self._batch_skipped:
            self.message.emit(f"{len(self._batch_skipped)} image(s) you changed in this session "
                              "kept their predictions; Predict (Ctrl+P) refreshes one")

    def _on_predicted(self, req: PredictRequest, instances: list, hw) -> None:
        if self._latest.get(req.image_id) != req.request_id:
            return  # stale: a newer request (or another model) superseded it
        del self._latest[req.image_id]
        rec = self.doc.image_record(req.image_id)
        if rec is None or self.info is None:
            return
        why = None
        if not self.pixels.check_size(rec, hw):
            why = self.pixels.size_errors[rec.id]
        elif not req.explicit and self.doc.has_history(rec):
            why = f"{rec.file_name} has changes in the undo history; Predict (Ctrl+P) refreshes it"
            if self.batch_active:  # changed while the batch ran
                self._batch_skipped.add(rec.file_name)
        if why is not None:
            self.predictionSkipped.emit(rec.id, why)
            return
        merge = self.doc.apply_predictions(rec, instances, self.info.categories,
                                           self.info.model_id,
                                           attention=getattr(instances, "attention", None))
        if req.explicit and rec.status == "done" and merge.added:
            self.message.emit(f"{rec.file_name} is marked done: its {len(merge.added)} new "
                              "prediction(s) are not offered; Review → Review hidden "
                              "predictions reopens it")
        self.predictionApplied.emit(rec.id, len(merge.added))

    def _on_failed(self, req: PredictRequest, message: str, oom: bool) -> None:
        if self._latest.get(req.image_id) != req.request_id:
            return
        del self._latest[req.image_id]
        rec = self.doc.image_record(req.image_id)
        name = rec.file_name if rec is not None else f"image {req.image_id}"
        if oom and self.spec is not None and self.spec.device != "cpu":
            self.outOfMemory.emit(f"Prediction of {name} ran out of GPU memory:\n{message}")
        elif self.batch_active and not req.explicit:
            self._batch_failed.append(f"{name}: {message.splitlines()[0]}")
        else:
            self.notifier.error("Prediction failed", f"{name}: {message}")

    def _on_unreadable(self, req: PredictRequest, message: str) -> None:
        if self._latest.get(req.image_id) != req.request_id:
            return
        del self._latest[req.image_id]
        self.pixels.mark_unreadable(req.image_id, message)
        if self.batch_active and not req.explicit:
            self._batch_unreadable.add(req.image_id)
        elif req.explicit:
            self.message.emit(f"Cannot predict: {message}")

    def shutdown(self) -> None:
        """Stop both threads and wait for them (called before the window dies)."""
        self.gate.shutdown()
        self.worker.shutdown()
        self.pixels.shutdown()
