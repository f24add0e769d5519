"""The offer gate in the window (issue 29): the decision for the model version in use,
fitted again whenever an image is marked done (or reopened) or the version changes,
and handed to the Document, the one owner of the threshold.

Pricing a done image's predictions (model/effort/gate_records.py) takes glance
estimates on every one of them: tens of milliseconds an image, seconds for a dataset.
It runs on a thread of its own; the UI thread only takes snapshots (masks are shared,
frozen) and fits (a sort of the records). Records are kept per (image, generation of
its last change), so a refit prices only what changed; a reopened dataset is priced
again from its files (nothing of the gate is saved: the decisions are in the COCO file,
the cached predictions and the effort record already).

It also scores the box tool's two routes on each done image of the version (the
model's mask for each object's box, on the inference thread when nothing else waits,
against the classical route's), for model/effort/box_route.py's rule.
"""
from __future__ import annotations

import itertools
import threading

from PySide6.QtCore import QObject, QTimer, Signal

from model.effort import box_route as R
from model.effort.gate import Decision, Record, fit
from model.effort.gate_records import DoneImage, counted, records_of, snapshot, truth_of
from model.effort.matching import mask_iou

from ..document.document import Document
from .workers import AssistRequest, QueueWorker

Key = tuple[int, int]  # image id, the document's generation of its last change


class GateWorker(QueueWorker):
    """Prices snapshots of done images; the newest job waits, a running one finishes."""

    priced = Signal(str, object)  # version, {Key: [Record]}

    def __init__(self):
        super().__init__("maskloop-gate")
        self._job: tuple[str, list[tuple[Key, DoneImage]]] | None = None
        self._cancel = threading.Event()

    def price(self, version: str, items: list[tuple[Key, DoneImage]]) -> None:
        with self._lock:
            self._job = (version, items)
        self.wake()

    def _on_stop(self) -> None:
        self._cancel.set()

    def _next_task(self):
        with self._lock:
            job, self._job = self._job, None
        return None if job is None else (lambda: self._run(*job))

    def _run(self, version: str, items: list[tuple[Key, DoneImage]]) -> None:
        out: dict[Key, list[Record]] = {}
        for key, img in items:
            if self._cancel.is_set():
                return
            out[key] = records_of(img)
        self.priced.emit(version, out)


class GateController(QObject):
    fitted = Signal(object)  # the Decision handed to the Document (None: no model)

    def __init__(self, doc: Document, inference):
        super().__init__()
        self.doc, self.inference = doc, inference
        self.worker = GateWorker()
        self.worker.priced.connect(self._on_priced)
        self.records: dict[str, dict[Key, list[Record]]] = {}  # version -> priced images
        self.heldout: dict[str, dict[int, list[Record]]] = {}  # version -> image id -> records
        self.routes: dict[str, dict[int, list[tuple[float, float]]]] = {}  # version -> image
        self._route_asked: dict[int, tuple[AssistRequest, str, list]] = {}
        self._counted: tuple[str, list[Key]] | None = None  # what the decision is made of
        self._done: set[int] = set()
        self._ids = itertools.count(1)
        self._timer = QTimer(self, singleShot=True, interval=0)  # coalesce a burst of changes
        self._timer.timeout.connect(self.refit)
        doc.datasetReset.connect(self._on_reset)
        doc.imageStateChanged.connect(self._on_state)
        inference.modelReady.connect(self._on_model)
        inference.modelFailed.connect(lambda _why, _kept: self.schedule())
        inference.worker.assisted.connect(self._on_assisted)

    # --------------------------------------------------------------- triggers
    def schedule(self) -> None:
        self._timer.start()

    def _on_reset(self) -> None:
        self.records.clear()
        self.heldout.clear()
        self.routes.clear()
        self._route_asked.clear()
        self.inference.worker.forget_background()
        self._counted = None
        self.schedule()

    def _on_model(self, _info) -> None:
        """Another model: the box route's jobs asked of the one before are dropped."""
        self.inference.worker.forget_background()
        self._route_asked.clear()
        self.schedule()

    def _on_state(self, row: int) -> None:
        ds = self.doc.dataset
        if ds is None or not 0 <= row < len(ds.images):
            return
        rec = ds.images[row]
        if (rec.status == "done") != (rec.id in self._done):
            self.schedule()

    def add_heldout(self, version: str, records: dict[int, list[Record]]) -> None:
        """Records of a version's evaluation on done images it did not train on."""
        self.heldout[version] = dict(records)
        self.schedule()

    # ------------------------------------------------------------------- fit
    @property
    def version(self) -> str | None:
        info = self.inference.info
        return None if info is None else info.model_id

    def refit(self) -> None:
        ds, info = self.doc.dataset, self.inference.info
        if ds is None or info is None:
            self._counted = None
            self.doc.set_gate(None)
            self.fitted.emit(None)
            return
        v = info.model_id
        self._done = {rec.id for rec in ds.images if rec.status == "done"}
        recs = counted(ds, v, self.doc.effort, info.trained_on)
        cache = self.records.setdefault(v, {})
        keys, todo = [], []
        for rec in recs:
            key = (rec.id, self.doc.image_generation.get(rec.id, 0))
            keys.append(key)
            if key not in cache:
                snap = snapshot(rec, v, self.doc.effort)
                if snap is None:
                    cache[key] = []
                else:
                    todo.append((key, snap))
        self._counted = (v, keys)
        self._score_routes(v, recs)
        if todo:
            self.worker.price(v, todo)
        else:
            self._fit()

    def _on_priced(self, version: str, priced: dict) -> None:
        cache = self.records.setdefault(version, {})
        for key, recs in priced.items():
            cache.setdefault(key, recs)
        self._fit()

    def _fit(self) -> None:
        if self._counted is None:
            return
        v, keys = self._counted
        cache = self.records.get(v, {})
        if any(k not in cache for k in keys):
            return  # a job is still pricing some of them
        self.records[v] = {k: cache[k] for k in keys}  # what is no longer counted goes
        ids = {k[0] for k in keys}
        recs = [r for k in keys for r in cache[k]]
        recs += [r for image_id, rs in self.heldout.get(v, {}).items() if image_id not in ids
                 for r in rs]
        decision = fit(recs, v)
        self.doc.set_gate(decision)
        self.fitted.emit(decision)

    @property
    def decision(self) -> Decision | None:
        return self.doc.gate

    # ------------------------------------------------------------- box route
    def route_score(self) -> R.RouteScore:
        """The box tool's two routes on the version's done images counted now."""
        v = self.version
        score = R.RouteScore()
        if v is None or self._counted is None or self._counted[0] != v:
            return score
        scored = self.routes.get(v, {})
        for image_id, _gen in self._counted[1]:
            score.add(scored.get(image_id, ()))
        return score

    def box_uses_model(self) -> bool:
        return R.use_model(self.route_score())

    def box_route_why(self) -> str | None:
        """Why the box tool does not ask the model (None: it does)."""
        s = self.route_score()
        if R.use_model(s):
            return None
        if s.objects < R.MIN_OBJECTS:
            return (f"the model's masks from boxes are measured on {R.MIN_OBJECTS} objects of "
                    f"images marked done with this version first ({s.objects} so far)")
        return (f"the model's masks from boxes are worse than the classical route on "
                f"{s.objects} reviewed objects (mean IoU {s.mean_model:.2f} against "
                f"{s.mean_classical:.2f})")

    def _score_routes(self, version: str, recs) -> None:
        info = self.inference.info
        if info is None or not info.can_assist:
            return
        scored = self.routes.setdefault(version, {})
        asked = {(v, req.image_id) for req, v, _f in self._route_asked.values()}
        for rec in recs:
            if rec.id in scored or (version, rec.id) in asked:
                continue
            finals = R.reviewed(truth_of(rec))
            if not finals:
                scored[rec.id] = []
                continue
            rgb = self.inference.pixels.rgb(rec.id)
            path = None
            if rgb is None:
                try:
                    path = self.doc.dataset.image_path(rec)
                except Exception:
                    scored[rec.id] = []
                    continue
            req = AssistRequest(next(self._ids), rec.id, "routes", image=rgb, path=path,
                                boxes=[R.box_of(f) for f in finals],
                                category_ids=[f.category_id for f in finals])
            self._route_asked[req.request_id] = (req, version, finals)
            self.inference.worker.background(req)

    def _on_assisted(self, req: AssistRequest, result) -> None:
        if req.kind != "routes":
            return
        asked = self._route_asked.get(req.request_id)
        if asked is None or asked[0] is not req:
            return
        del self._route_asked[req.request_id]
        _req, version, finals = asked
        if version != self.version:
            return  # answered by another model (it was swapped meanwhile)
        pairs = []
        if not isinstance(result, str):
            for f, (bm, (cm, co)) in zip(finals, result):
                pairs.append((mask_iou(bm.mask, bm.offset, f.mask, f.offset),
                              mask_iou(cm, co, f.mask, f.offset)))
        self.routes.setdefault(version, {})[req.image_id] = pairs

    def shutdown(self) -> None:
        self.worker.shutdown()
