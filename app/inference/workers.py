"""Background workers: image decoding and Mask R-CNN inference, each in its own QThread.

Pattern (Qt's mandelbrot example): the UI thread hands requests over under a
lock and wakes the worker; the worker takes the newest request first, checks a
threading.Event between images and between model stages, and returns to its
event loop when idle. A queued "cancel" signal would never reach a busy worker,
so cancel is always an Event. Results carry request ids; the UI drops stale ones.
"""
from __future__ import annotations

import threading
import time
import traceback
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Qt, Signal, Slot

from model.errors import Cancelled, ImageReadError

_LIVE_THREADS: "weakref.WeakSet[QThread]" = weakref.WeakSet()


def running_threads() -> list[QThread]:
    """Worker threads still running (tests assert this is empty after each test)."""
    return [t for t in list(_LIVE_THREADS) if t.isRunning()]


class QueueWorker(QObject):
    """A QObject living in its own QThread that drains a task queue on wake-up."""

    _wake = Signal()

    def __init__(self, name: str):
        super().__init__()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.thread = QThread()
        self.thread.setObjectName(name)
        self.moveToThread(self.thread)
        self._wake.connect(self._drain, Qt.QueuedConnection)
        _LIVE_THREADS.add(self.thread)
        self.thread.start()

    def wake(self) -> None:
        self._wake.emit()

    def _next_task(self) -> Callable[[], None] | None:  # called with no lock held
        raise NotImplementedError

    @Slot()
    def _drain(self) -> None:
        while not self._stopping.is_set():
            task = self._next_task()
            if task is None:
                return
            task()

    def _on_stop(self) -> None:
        """Set cancel events so a busy task returns soon."""

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop, quit the thread's event loop and wait for it: never leave it running."""
        self._stopping.set()
        self._on_stop()
        self.thread.quit()
        return self.thread.wait(timeout_ms)


# --------------------------------------------------------------------------- images

class ImageLoader(QueueWorker):
    """Decodes images off the UI thread; the newest 'current' request goes first."""

    loaded = Signal(int, int, object, object, str)  # request id, image id, rgb, bgra, error

    def __init__(self, reader: Callable[[Path], np.ndarray] | None = None):
        super().__init__("maskloop-image-loader")
        from model.data.images import read_image
        self._read = reader or read_image
        self._queue: deque[tuple[int, int, Path]] = deque()

    def request(self, request_id: int, image_id: int, path: Path, prefetch: list = ()) -> None:
        """Replace whatever is queued: the current image first, then the prefetch list."""
        with self._lock:
            self._queue.clear()
            self._queue.append((request_id, image_id, path))
            self._queue.extend(prefetch)
        self.wake()

    def _next_task(self):
        with self._lock:
            if not self._queue:
                return None
            req = self._queue.popleft()
        return lambda: self._load(*req)

    def _load(self, request_id: int, image_id: int, path: Path) -> None:
        from model.errors import ImageReadError
        from ..qt_image import rgb_to_bgra
        try:
            rgb = self._read(path)
            self.loaded.emit(request_id, image_id, rgb, rgb_to_bgra(rgb), "")
        except ImageReadError as e:
            self.loaded.emit(request_id, image_id, None, None, str(e))
        except Exception as e:  # a reader bug must not kill the thread
            self.loaded.emit(request_id, image_id, None, None, f"{path}: {e}")


# ------------------------------------------------------------------------ inference

@dataclass(frozen=True)
class ModelSpec:
    weights: str = "coco"
    device: str = "auto"
    score_floor: float = 0.05  # lowest score kept, so the threshold slider can show more
    min_size: int | None = None
    max_size: int | None = None


@dataclass
class ModelInfo:
    spec: ModelSpec
    model_id: str
    device: str
    categories: list
    arch: str
    can_assist: bool = False  # can it segment a box (a Mask R-CNN, or a stand-in that can)
    trained_on: frozenset = frozenset()  # image files its checkpoint lists as trained on


@dataclass
class PredictRequest:
    request_id: int
    image_id: int
    path: Path | None = None
    image: np.ndarray | None = None  # a decoded array the UI already has; never mutated
    explicit: bool = False  # the user asked for this image (Predict), not a prefetch


@dataclass
class AssistRequest:
    """A box -> mask or click -> instance job for one image."""
    request_id: int
    image_id: int
    kind: str  # "boxes": a mask per box; "candidates": every detection, for clicks;
    # "routes": the model's mask per box of a done image's objects (the box route's score)
    image: np.ndarray | None = None
    path: Path | None = None
    boxes: list = field(default_factory=list)  # (x0, y0, x1, y1) in image pixels
    category_ids: list = field(default_factory=list)  # per box, None: the box head's class
    use_model: bool = True  # False: the classical fallback
    target: object = None  # the instance a re-predicted box replaces the mask of


@dataclass
class _Batch:
    requests: deque
    total: int
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    cancel: threading.Event = field(default_factory=threading.Event)


PredictorFactory = Callable[..., Any]  # Predictor(**kwargs)-compatible


def default_factory(**kwargs):
    from model.net.predictor import Predictor
    return Predictor(**kwargs)


def is_out_of_memory(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


class InferenceWorker(QueueWorker):
    """Owns the Predictor. Order of work: model swap, current image, prefetch, batch."""

    predicted = Signal(object, object, object)  # PredictRequest, instances, (h, w)
    failed = Signal(object, str, bool)  # PredictRequest, message, out-of-memory
    unreadable = Signal(object, str)  # PredictRequest, why its image cannot be read
    progress = Signal(int, int, float)  # batch done, total, ETA seconds
    batchFinished = Signal(bool)  # True when cancelled
    modelReady = Signal(object)  # ModelInfo
    modelFailed = Signal(object, str, object)  # ModelSpec, why, ModelInfo kept (None: none)
    downloadProgress = Signal(int, int)  # bytes done, total (0: unknown)
    stateChanged = Signal(str)
    assisted = Signal(object, object)  # AssistRequest, list of results or an error message

    def __init__(self, factory: PredictorFactory = default_factory,
                 reader: Callable[[Path], np.ndarray] | None = None):
        super().__init__("maskloop-inference")
        from model.data.images import read_image
        self._factory = factory
        self._read = reader or read_image
        self.predictor = None
        self.info: ModelInfo | None = None  # of `predictor`
        self._model_req: ModelSpec | None = None
        self._interactive: deque[PredictRequest] = deque()
        self._batch: _Batch | None = None
        self._cancel_interactive = threading.Event()
        self._cancel_download = threading.Event()
        self._running_image: int | None = None
        self._started: set[int] = set()  # interactive request ids begun (each runs once)
        self._assist: deque[AssistRequest] = deque()
        self._background: deque[AssistRequest] = deque()  # run only when nothing else waits
        from model.net.assist import FeatureCache
        self.features = FeatureCache(3)  # the current image and the two prefetched

    # ------------------------------------------------- UI-thread API (thread-safe)
    def assist(self, request: AssistRequest) -> None:
        """Box and click jobs go before predictions: the user is waiting on them."""
        with self._lock:
            self._assist.append(request)
        self.wake()

    def background(self, request: AssistRequest) -> None:
        """A job nobody waits for (the box route's score on a done image): it runs
        when no model swap, box, click or prediction is waiting."""
        with self._lock:
            self._background.append(request)
        self.wake()

    def forget_background(self) -> None:
        with self._lock:
            self._background.clear()

    def load_model(self, spec: ModelSpec) -> None:
        with self._lock:
            self._model_req = spec
            self._cancel_download.clear()
        self.wake()

    def predict(self, requests: list[PredictRequest]) -> None:
        """Latest wins: queued interactive requests are replaced, a running one for
        another image is cancelled. A request handed over again (the UI keeps what it
        still waits for) that began already is not run again."""
        with self._lock:
            ids = {r.request_id for r in requests}
            self._started &= ids
            self._interactive.clear()
            self._interactive.extend(r for r in requests if r.request_id not in self._started)
            wanted = {r.image_id for r in requests}
            if self._running_image is not None and self._running_image not in wanted:
                self._cancel_interactive.set()
        self.wake()

    def predict_all(self, requests: list[PredictRequest]) -> None:
        with self._lock:
            if self._batch is not None:
                self._batch.cancel.set()
            self._batch = _Batch(deque(requests), len(requests))
        self.wake()

    def cancel_batch(self) -> None:
        with self._lock:
            if self._batch is not None:
                self._batch.cancel.set()
        self.wake()

    def cancel_download(self) -> None:
        self._cancel_download.set()

    def _on_stop(self) -> None:
        self._cancel_interactive.set()
        self._cancel_download.set()
        with self._lock:
            if self._batch is not None:
                self._batch.cancel.set()

    # ---------------------------------------------------------- worker thread
    def _next_task(self):
        with self._lock:
            if self._model_req is not None:
                spec, self._model_req = self._model_req, None
                return lambda: self._load(spec)
            if self._assist:
                job = self._assist.popleft()
                return lambda: self._run_assist(job)
            if self._interactive:
                req = self._interactive.popleft()
                self._started.add(req.request_id)
                self._running_image = req.image_id
                self._cancel_interactive.clear()
                return lambda: self._run_one(req, self._cancel_interactive, None)
            batch = self._batch
            if batch is not None:
                if batch.cancel.is_set() or not batch.requests:
                    self._batch = None
                    cancelled = batch.cancel.is_set()
                    return lambda: self._finish_batch(cancelled)
                req = batch.requests.popleft()
                self._running_image = req.image_id
                return lambda: self._run_one(req, batch.cancel, batch)
            if self._background:
                job = self._background.popleft()
                return lambda: self._run_assist(job)
        self.stateChanged.emit("idle")
        return None

    def _finish_batch(self, cancelled: bool) -> None:
        self.batchFinished.emit(cancelled)

    def _run_assist(self, req: AssistRequest) -> None:
        from .assist_jobs import run_assist
        self.stateChanged.emit({"boxes": "segmenting the box",
                                "routes": "measuring the box tool on a done image"}.get(
                                    req.kind, "finding objects to click"))
        try:
            image = req.image if req.image is not None else self._read(req.path)
            cache = self.features
            if req.kind == "routes" and req.image_id not in cache:
                from model.net.assist import FeatureCache
                cache = FeatureCache(1)  # a done image's features must not push out the current one's
            result = run_assist(self.predictor, cache, req, image)
        except Exception as e:  # a model or image problem: one message, the tool goes on
            result = f"{type(e).__name__}: {e}"
        self.assisted.emit(req, result)

    def _load(self, spec: ModelSpec) -> None:
        """Build the new model beside the working one: the working one is dropped only
        once the new one loaded, so a file that fails to load takes nothing away."""
        self.stateChanged.emit(f"loading model {spec.weights} on {spec.device}")

        def progress(done: int, total: int) -> None:
            self.downloadProgress.emit(done, total)
        try:
            p = self._factory(
                weights=spec.weights, device=spec.device, score_threshold=spec.score_floor,
                min_size=spec.min_size, max_size=spec.max_size, progress=progress,
                cancel=self._cancel_download)
        except Cancelled:
            self.modelFailed.emit(spec, "Model download cancelled. Predictions are off until "
                                  "a model is loaded; you can still review and edit.", self.info)
            return
        except Exception as e:  # WeightsError, DeviceError, or anything a checkpoint throws
            self.modelFailed.emit(spec, str(e) or type(e).__name__, self.info)
            return
        self.features.clear()
        self.predictor = p
        arch = getattr(p, "arch", "")
        can = p.supports_assist
        self.info = ModelInfo(spec, p.model_id, str(p.device), list(p.categories), arch, can,
                              frozenset(getattr(p, "trained_on", ()) or ()))
        self.modelReady.emit(self.info)

    def _run_one(self, req: PredictRequest, cancel: threading.Event, batch: _Batch | None) -> None:
        label = f"predicting image {batch.done + 1}/{batch.total}" if batch else "predicting"
        self.stateChanged.emit(label)
        try:
            if self.predictor is None:
                raise RuntimeError("no model is loaded (see Model > Weights)")
            image = req.image if req.image is not None else self._read(req.path)
            if cancel.is_set():
                raise Cancelled()
            if batch is None and hasattr(self.predictor, "predict_features"):
                # the image being looked at: keep its features for the box and click tools
                from model.net.assist import compute_features
                feats = compute_features(self.predictor, image)
                self.features.put(self.predictor, req.image_id, feats)
                instances = self.predictor.predict_features(feats, cancel=cancel)
            else:
                instances = self.predictor.predict(image, cancel=cancel)
            if hasattr(instances, "mask_confidence"):  # a Predictor's (tests may fake one)
                from model.effort.attention import attention
                instances.attention = attention(instances, predictor=self.predictor, rgb=image)
            self.predicted.emit(req, instances, image.shape[:2])
        except Cancelled:
            pass
        except ImageReadError as e:  # the file, not the model: the image list marks it
            self.unreadable.emit(req, str(e))
        except Exception as e:
            oom = is_out_of_memory(e)
            msg = str(e) or type(e).__name__
            if not oom and not hasattr(e, "path"):
                msg = f"{msg}\n\n{traceback.format_exc(limit=3)}"
            self.failed.emit(req, msg, oom)
            if oom and batch is not None:
                batch.cancel.set()
        finally:
            with self._lock:
                self._running_image = None
        if batch is not None and not batch.cancel.is_set():
            batch.done += 1
            elapsed = time.perf_counter() - batch.started
            eta = elapsed / batch.done * (batch.total - batch.done)
            self.progress.emit(batch.done, batch.total, eta)
