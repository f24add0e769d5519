"""Connects the Document to the two worker threads: decoding pixels for the canvas,
predicting the current image first, prefetching the next ones, and predict-all."""
from __future__ import annotations

import gc
import itertools
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from model.annotations import ImageRecord
from model.images import ImageReadError

from .document import Document
from .notify import Notifier
from .workers import (ImageLoader, InferenceWorker, ModelInfo, ModelSpec, PredictRequest,
                      PredictorFactory, default_factory)

PIXEL_CACHE = 4  # decoded images kept (current and neighbours)


class InferenceController(QObject):
    pixelsReady = Signal(int, object, object)  # image id, rgb, bgra (current image only)
    pixelsFailed = Signal(int, str)
    stateChanged = Signal(str)
    modelChanged = Signal(str)  # one line for the status bar
    modelReady = Signal(object)  # ModelInfo
    modelFailed = Signal(str)
    batchProgress = Signal(int, int, float)  # done, total, ETA
    batchRunning = Signal(bool)
    downloadProgress = Signal(int, int)
    predictionApplied = Signal(int, int)  # image id, instances added

    def __init__(self, doc: Document, notifier: Notifier,
                 factory: PredictorFactory = default_factory,
                 reader: Callable[[Path], np.ndarray] | None = None,
                 prefetch: int = 2):
        super().__init__()
        self.doc, self.notifier = doc, notifier
        self.prefetch = prefetch
        self.auto_predict = True
        self.loader = ImageLoader(reader)
        self.worker = InferenceWorker(factory, reader)
        self.spec: ModelSpec | None = None
        self.info: ModelInfo | None = None
        self.model_error: str | None = None
        self.batch_active = False
        self._ids = itertools.count(1)
        self._pixel_req = 0
        self._latest: dict[int, int] = {}  # image id -> newest prediction request id
        self.cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.loader.loaded.connect(self._on_loaded)
        w = self.worker
        w.predicted.connect(self._on_predicted)
        w.failed.connect(self._on_failed)
        w.progress.connect(self.batchProgress)
        w.batchFinished.connect(self._on_batch_finished)
        w.modelReady.connect(self._on_model_ready)
        w.modelFailed.connect(self._on_model_failed)
        w.downloadProgress.connect(self.downloadProgress)
        w.stateChanged.connect(self.stateChanged)
        doc.currentChanged.connect(self._on_current)
        doc.datasetReset.connect(self._on_reset)

    # ------------------------------------------------------------------ model
    def set_model(self, spec: ModelSpec) -> None:
        """Swap the model; the worker does it between requests."""
        self.spec = spec
        self.info = None
        self.model_error = None
        self._latest.clear()  # results of the old model are stale now
        self.modelChanged.emit(f"loading {spec.weights} on {spec.device}…")
        self.worker.load_model(spec)

    def _on_model_ready(self, info: ModelInfo) -> None:
        if self.spec is not None and info.spec != self.spec:
            return  # a newer request is on its way
        self.info = info
        # the model and the imports are here to stay: keep the cyclic GC from walking
        # them again (a full collection of this heap pauses the window for 100+ ms)
        gc.freeze()
        self.doc.predicted.clear()
        self.modelChanged.emit(f"{info.model_id} · {info.device}")
        self.modelReady.emit(info)
        self._maybe_auto_predict()

    def _on_model_failed(self, message: str) -> None:
        self.info = None
        self.model_error = message
        self.modelChanged.emit("no model")
        self.modelFailed.emit(message)

    # ----------------------------------------------------------------- pixels
    def _on_reset(self) -> None:
        self.cache.clear()
        self._latest.clear()

    def _path(self, rec: ImageRecord) -> Path:
        return self.doc.dataset.image_path(rec)

    def _on_current(self, row: int) -> None:
        rec = self.doc.current
        if rec is None:
            return
        self._pixel_req += 1
        if rec.id in self.cache:
            self.cache.move_to_end(rec.id)
            rgb, bgra = self.cache[rec.id]
            self._show(rec, rgb, bgra)
        try:
            path = self._path(rec)
        except ImageReadError as e:
            self.pixelsFailed.emit(rec.id, str(e))
            return
        nxt = []
        for r in self._neighbours(row):
            if r.id not in self.cache:
                try:
                    nxt.append((self._pixel_req, r.id, self._path(r)))
                except ImageReadError:
                    pass
        if rec.id in self.cache:
            if nxt:
                self.loader.request(*nxt[0], prefetch=nxt[1:])
        else:
            self.loader.request(self._pixel_req, rec.id, path, prefetch=nxt)

    def _neighbours(self, row: int) -> list[ImageRecord]:
        images = self.doc.dataset.images
        return [images[r] for r in range(row + 1, min(row + 1 + self.prefetch, len(images)))]

    def _on_loaded(self, req: int, image_id: int, rgb, bgra, error: str) -> None:
        rec = self.doc.record(image_id)
        if rec is None:
            return
        if error:
            if self.doc.current is rec:
                self.pixelsFailed.emit(image_id, error)
            return
        self.cache[image_id] = (rgb, bgra)
        self.cache.move_to_end(image_id)
        while len(self.cache) > PIXEL_CACHE:
            oldest = next(iter(self.cache))
            if self.doc.current is not None and oldest == self.doc.current.id:
                self.cache.move_to_end(oldest)
                continue
            self.cache.popitem(last=False)
        self._check_size(rec, rgb.shape[:2])
        if self.doc.current is rec:
            self._show(rec, rgb, bgra)

    def _show(self, rec: ImageRecord, rgb, bgra) -> None:
        self.pixelsReady.emit(rec.id, rgb, bgra)
        self._maybe_auto_predict()

    def _check_size(self, rec: ImageRecord, hw) -> None:
        h, w = int(hw[0]), int(hw[1])
        if not rec.size_known:
            rec.width, rec.height = w, h
        elif (rec.height, rec.width) != (h, w):
            self.notifier.error("Image size mismatch",
                                f"{rec.file_name}: the file is {w}x{h} but the COCO file says "
                                f"{rec.width}x{rec.height}. Using the file's size.")
            rec.width, rec.height = w, h

    # ------------------------------------------------------------- prediction
    def _needs_prediction(self, rec: ImageRecord) -> bool:
        return not rec.instances and rec.status != "done" and rec.id not in self.doc.predicted

    def _maybe_auto_predict(self) -> None:
        rec = self.doc.current
        if self.auto_predict and self.info is not None and rec is not None \
                and rec.id in self.cache and self._needs_prediction(rec):
            self.predict_current(include_current=True)

    def _request(self, rec: ImageRecord, image=None) -> PredictRequest | None:
        rid = next(self._ids)
        self._latest[rec.id] = rid
        if image is not None:
            return PredictRequest(rid, rec.id, image=image)
        try:
            return PredictRequest(rid, rec.id, path=self._path(rec))
        except ImageReadError:
            return None

    def predict_current(self, include_current: bool = True) -> bool:
        """Predict the current image now, then prefetch predictions for the next ones."""
        rec = self.doc.current
        if rec is None:
            return False
        if self.info is None:
            self.notifier.error("No model", self.model_error or "The model is still loading.")
            return False
        reqs = []
        if include_current:
            pixels = self.cache.get(rec.id)
            req = self._request(rec, pixels[0] if pixels else None)
            if req is not None:
                reqs.append(req)
        if self.auto_predict:
            for r in self._neighbours(self.doc.row):
                if self._needs_prediction(r):
                    cached = self.cache.get(r.id)
                    req = self._request(r, cached[0] if cached else None)
                    if req is not None:
                        reqs.append(req)
        self.worker.predict(reqs)
        return bool(reqs)

    def predict_all(self, include_reviewed: bool = False, only_unreviewed: bool = False) -> int:
        """Queue every image (or every image not done, or only those nobody has started);
        reviewed instances stay untouched either way."""
        if self.info is None:
            self.notifier.error("No model", self.model_error or "The model is still loading.")
            return 0
        reqs = []
        for rec in self.doc.dataset.images:
            if only_unreviewed and rec.status != "unreviewed":
                continue
            if include_reviewed or rec.status != "done":
                req = self._request(rec)
                if req is not None:
                    reqs.append(req)
        if reqs:
            self.batch_active = True
            self.batchRunning.emit(True)
            self.batchProgress.emit(0, len(reqs), 0.0)
            self.worker.predict_all(reqs)
        return len(reqs)

    def cancel(self) -> None:
        self.worker.cancel_batch()

    def _on_batch_finished(self, cancelled: bool) -> None:
        self.batch_active = False
        self.batchRunning.emit(False)
        self.stateChanged.emit("predict-all cancelled" if cancelled else "predict-all finished")

    def _on_predicted(self, req: int, image_id: int, instances: list, hw) -> None:
        if self._latest.get(image_id) != req:
            return  # stale: a newer request (or another model) superseded it
        del self._latest[image_id]
        rec = self.doc.record(image_id)
        if rec is None:
            return
        self._check_size(rec, hw)
        if self.info is not None:
            instances = self.doc.adopt_categories(instances, self.info.categories)
        added = self.doc.apply_predictions(image_id, instances)
        self.predictionApplied.emit(image_id, added)

    def _on_failed(self, req: int, image_id: int, message: str, oom: bool) -> None:
        if self._latest.get(image_id) != req:
            return
        del self._latest[image_id]
        rec = self.doc.record(image_id)
        name = rec.file_name if rec is not None else f"image {image_id}"
        if oom and self.spec is not None and self.spec.device != "cpu":
            answer = self.notifier.ask(
                "Out of memory", f"Prediction of {name} ran out of GPU memory:\n{message}\n\n"
                "Retry on the CPU? (slower, but it has more memory)", ["Retry on CPU", "Cancel"],
                default="Retry on CPU")
            if answer == "Retry on CPU":
                spec = self.spec
                self.set_model(ModelSpec(spec.weights, "cpu", spec.score_floor, spec.min_size,
                                         spec.max_size))
                self.doc.predicted.discard(image_id)
            return
        self.notifier.error("Prediction failed", f"{name}: {message}")

    def shutdown(self) -> None:
        """Stop both threads and wait for them (called before the window dies)."""
        self.worker.shutdown()
        self.loader.shutdown()
