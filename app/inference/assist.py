"""Box -> mask and click -> instance in the window: requests go to the inference
thread (the image's features are cached there), answers come back as one undoable
step through the Document. The model that answers is the one being fine-tuned;
without a usable one, the classical fallback answers and the status bar says why."""
from __future__ import annotations

import itertools

from PySide6.QtCore import QObject, Signal

from model.net import assist as A
from model.data.annotations import Instance
from model.editing.ops import CategoryOp, Edit, InsertOp, RemoveOp
from model.net.from_boxes import filled, xyxy
from model.editing.actions import reshape_edit, touch_status
from model.editing.review import adopt_categories
from model.effort.actions import ACCEPT, BOX, CLICK

from ..document.document import Document
from ..document.drawing import DrawingController
from .controller import InferenceController
from .workers import AssistRequest

class AssistController(QObject):
    message = Signal(str)
    hint = Signal(str)  # a status hint while an offer or a search lasts ("": it ended)
    offerChanged = Signal(object)  # the Instance offered under the click, or None
    answered = Signal(object)  # an answer from the model was applied (the request)

    def __init__(self, doc: Document, drawing: DrawingController, inference: InferenceController):
        super().__init__()
        self.doc, self.drawing, self.inference = doc, drawing, inference
        self._ids = itertools.count(1)
        self._latest_click = 0
        self.candidates: dict[int, list[Instance]] = {}  # image id -> detections, best first
        self._pending_click: tuple | None = None
        self.offer: tuple[int, list[Instance], int] | None = None  # image id, hits, index
        self.clicks = 0  # clicks (and Tabs) that led to the offer shown
        self._fill_left = 0
        inference.worker.assisted.connect(self._on_assisted)
        inference.modelReady.connect(lambda _i: self.forget())
        doc.datasetReset.connect(self.forget)
        doc.currentChanged.connect(lambda _r: self.cancel_offer())

    def forget(self) -> None:
        self.candidates.clear()
        self.cancel_offer()

    # ------------------------------------------------------------------ model
    def usable(self, category_id: int | None) -> str | None:
        """Why the model cannot answer (None: it can)."""
        info = self.inference.info
        if info is None:
            return "no model is loaded"
        if not info.can_assist:
            return f"the model ({info.model_id}) cannot segment a box"
        if info.model_id.startswith("random-init"):
            return "the model has random weights"
        if category_id is not None and not any(c.id == category_id for c in info.categories):
            name = self.doc.dataset.category_names().get(category_id, category_id)
            return f"the model does not know the class '{name}'"
        return None

    def _request(self, kind: str, **kw) -> AssistRequest | None:
        rec = self.doc.current
        if rec is None or not rec.size_known:
            return None
        rgb = self.inference.pixels.rgb(rec.id)
        path = None
        if rgb is None:
            try:
                path = self.doc.dataset.image_path(rec)
            except Exception as e:
                self.message.emit(str(e))
                return None
        req = AssistRequest(next(self._ids), rec.id, kind, image=rgb, path=path, **kw)
        self.inference.worker.assist(req)
        return req

    # -------------------------------------------------------------------- box
    def box(self, rect: tuple[float, float, float, float], target: Instance | None = None) -> bool:
        """Segment what is in the box: a new instance, or (target) a new mask for it."""
        x0, y0, x1, y1 = rect
        if x1 - x0 < 2 or y1 - y0 < 2:
            return False
        cat = target.category_id if target is not None else self.drawing.chosen_category()
        why = self.usable(cat)
        if why is None:  # box_route.use_model: the model only while it beats the classical
            why = self.inference.gate.box_route_why()
        if why is not None:
            self.message.emit(f"Box to mask: {why}; segmenting with {A.CLASSICAL_NAMES[A.FALLBACK]} "
                              "instead")
        return self._request("boxes", boxes=[rect], category_ids=[cat], use_model=why is None,
                             target=target) is not None

    def _apply_box(self, req: AssistRequest, result: list) -> None:
        rec = self.doc.image_record(req.image_id)
        bm = result[0]
        if rec is None or not bm.mask.size:
            self.message.emit("Box to mask: nothing found in the box")
            return
        if req.target is not None:
            if any(i is req.target for i in rec.instances):
                edit = reshape_edit(rec, req.target, (bm.mask, bm.offset), "Box to mask")
                edit.gestures = {BOX: 1}
                self.doc.push(edit)
            return
        ds, ops = self.doc.dataset, []
        cat = req.category_ids[0]
        if cat is None and bm.category_id is not None:  # the model's class, in the dataset's ids
            mapping, new = adopt_categories(ds.categories, self.inference.info.categories,
                                            [bm.category_id], ds.retired_category_ids)
            cat = mapping[bm.category_id]
            ops = [CategoryOp(ds, None, c, len(ds.categories) + k) for k, c in enumerate(new)]
        if cat is None:
            cat, ops = self.drawing.new_class()
        inst = Instance(cat, bm.mask, bm.offset, source="human", id=ds.new_annotation_id())
        self.doc.push(Edit("Box to mask", ops + [InsertOp(rec, inst, len(rec.instances)),
                                                 touch_status(rec)], gestures={BOX: 1}))
        self.doc.select(inst)

    # ------------------------------------------------------------------ click
    def click(self, x: int, y: int, cycle: bool = False) -> None:
        """Offer the best detection under the point (cycle: the next one)."""
        rec = self.doc.current
        if rec is None:
            return
        if self.offer is not None and self.offer[0] == rec.id and cycle:
            self.cycle()
            return
        cands = self.candidates.get(rec.id)
        if cands is None:
            why = self.usable(None)
            if why is not None:
                self.message.emit(f"Click to segment: {why}; draw a box (X) instead")
                return
            self._pending_click = (rec.id, x, y)
            if self._request("candidates") is not None:
                self.hint.emit("Finding the objects in this image…")
            return
        hits = A.covering(cands, x, y)
        if not hits:
            self.message.emit("No detection covers this point; draw a box (X) instead")
            self.cancel_offer()
            return
        self.offer = (rec.id, hits, 0)
        self.clicks += 1
        self._show_offer()

    def cycle(self) -> None:
        if self.offer is not None:
            image_id, hits, k = self.offer
            self.offer = (image_id, hits, (k + 1) % len(hits))
            self.clicks += 1
            self._show_offer()

    def _show_offer(self) -> None:
        _image_id, hits, k = self.offer
        inst = hits[k]
        name = self.doc.dataset.category_names().get(inst.category_id, inst.category_id)
        self.hint.emit(f"{name} {inst.score:.2f} ({k + 1} of {len(hits)} here): click or "
                       "Enter accepts, Shift+click or Tab shows the next, Esc cancels")
        self.offerChanged.emit(inst)

    def offered(self) -> Instance | None:
        return None if self.offer is None else self.offer[1][self.offer[2]]

    def accept(self) -> bool:
        inst, rec = self.offered(), self.doc.current
        if inst is None or rec is None or self.offer[0] != rec.id:
            return False
        ds = self.doc.dataset
        mapping, new = adopt_categories(ds.categories, self.inference.info.categories,
                                        [inst.category_id], ds.retired_category_ids)
        ops = [CategoryOp(ds, None, c, len(ds.categories) + k) for k, c in enumerate(new)]
        # the model's detection, accepted by a person: saved as exactly that
        made = Instance(mapping[inst.category_id], inst.mask, inst.offset, source="model",
                        review="accepted", score=inst.score,
                        model=inst.model or self.inference.info.model_id,
                        id=ds.new_annotation_id())
        clicks = max(1, self.clicks)
        self.cancel_offer()
        self.doc.push(Edit("Click to segment", ops + [InsertOp(rec, made, len(rec.instances)),
                                                      touch_status(rec)],
                           gestures={CLICK: clicks, ACCEPT: 1}))
        self.doc.select(made)
        return True

    def cancel_offer(self) -> None:
        self.clicks = 0
        if self.offer is not None:
            self.offer = None
            self.offerChanged.emit(None)
        self.hint.emit("")

    # ------------------------------------------------------- box-only datasets
    def fill_boxes(self, use_model: bool) -> int:
        """Masks for every box-only annotation, image by image on the inference thread;
        each image's answer is one undo step. Returns the number of images asked."""
        ds = self.doc.dataset
        if use_model and (why := self.usable(None)) is not None:
            self.message.emit(f"Filling boxes: {why}; using {A.CLASSICAL_NAMES[A.FALLBACK]} instead")
            use_model = False
        n = 0
        for rec in ds.images:
            todo = [(k, xyxy(i), i.category_id) for k, i in enumerate(rec.instances)
                    if i.box_only]
            if not todo:
                continue
            try:
                path = ds.image_path(rec)
            except Exception as e:
                self.message.emit(str(e))
                continue
            req = AssistRequest(next(self._ids), rec.id, "fill", path=path, boxes=todo,
                                use_model=use_model)
            self.inference.worker.assist(req)
            n += 1
        self._fill_left = n
        return n

    def _apply_fill(self, req: AssistRequest, result: list) -> None:
        rec = self.doc.image_record(req.image_id)
        self._fill_left -= 1
        if rec is None:
            return
        ops = []
        for k, mask, offset, by in result:
            old = rec.instances[k] if k < len(rec.instances) else None
            if old is None or not old.box_only or not mask.size:
                continue  # changed since it was asked, or nothing found in the box
            new = filled(old, rec, mask, offset, by)
            ops += [RemoveOp(rec, old, k), InsertOp(rec, new, k)]
        if ops:
            self.doc.push(Edit("Fill masks from boxes", ops))
        self.message.emit(f"Filling masks from boxes: {self._fill_left} image(s) to go"
                          if self._fill_left else "Masks filled from boxes: review them like "
                          "predictions")

    # ---------------------------------------------------------------- answers
    def _on_assisted(self, req: AssistRequest, result) -> None:
        if req.kind == "routes":
            return  # the gate's (app/inference/gate.py)
        if isinstance(result, str):
            self.message.emit(f"The model could not answer: {result}")
            return
        if req.kind == "boxes":
            self._apply_box(req, result)
        elif req.kind == "fill":
            self._apply_fill(req, result)
        elif req.kind == "candidates":
            self.hint.emit("")  # the search is over
            self.candidates[req.image_id] = result
            pending, self._pending_click = self._pending_click, None
            cur = self.doc.current
            if pending and cur is not None and pending[0] == req.image_id == cur.id:
                self.click(pending[1], pending[2])
        self.answered.emit(req)
