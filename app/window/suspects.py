"""The audit's suspects in the window: load SUSPECTS.json, show the current suspect's
reason and the model's alternative (a dashed outline on the canvas), and decide it with
the review keys while the image list's Suspects filter is on: A keeps the annotation,
R takes the model's version. Each decision is one Edit on the Document's undo stack."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QFileDialog, QGraphicsPathItem, QWidget

from model.audit.suspects import Suspect
from model.data.annotations import ImageRecord, Instance
from model.editing.actions import (delete_edit, insert_edit, mask_ops, relabel_edit,
                                   review_edit, touch_status)
from model.editing.ops import Edit
from model.editing.queue import SUSPECTS
from model.errors import CocoFormatError

from ..document.document import Document
from ..document.suspects import KEPT, TAKEN, SuspectOp

REASON_TEXT = {"missing": "missing: the model sees an object nobody labelled",
               "wrong_class": "wrong class", "sloppy_mask": "sloppy mask",
               "spurious": "spurious: the model sees nothing here"}
ALT_PEN = QColor(255, 0, 255)  # the model's alternative: dashed magenta, unlike any instance


class SuspectsController(QObject):
    message = Signal(str)

    def __init__(self, doc: Document, canvas, images, dialog_parent: QWidget | None = None):
        super().__init__()
        self.doc, self.canvas, self.images, self.dialog_parent = doc, canvas, images, dialog_parent
        self.outline: QGraphicsPathItem | None = None
        doc.suspects.changed.connect(lambda: self.show_current())
        doc.currentChanged.connect(lambda _r: self.show_current(select=True))
        doc.selectionChanged.connect(lambda _i: self.show_current())

    @property
    def active(self) -> bool:
        """A and R decide suspects while the Suspects filter is on and one is shown."""
        return self.doc.queue.state == SUSPECTS and self.current() is not None

    # ---------------------------------------------------------------- loading
    def load_dialog(self) -> None:
        if self.doc.dataset is None:
            self.message.emit("Open a dataset first")
            return
        path, _ = QFileDialog.getOpenFileName(self.dialog_parent, "Load suspects", "",
                                              "Suspects (*.json);;All files (*)")
        if path:
            self.load(path)

    def load(self, path) -> bool:
        """Read SUSPECTS.json, checked against the open dataset; a bad file is one message."""
        try:
            n = self.doc.suspects.load(path, self.doc.dataset)
        except (CocoFormatError, OSError) as e:
            self.message.emit(f"error: {str(e).splitlines()[0]}")
            return False
        # the file's name, not its path: the status bar of a 1280-pixel window cut it;
        # then the first suspect's reason, which says the rest
        self.message.emit(f"{n} suspect(s) loaded from {Path(path).name}")
        self.images.show_suspects()
        self.show_current(select=True)
        return True

    # ---------------------------------------------------------------- showing
    def current(self) -> int | None:
        """The selected annotation's suspect; with nothing selected, the image's top one.
        Another instance selected: none (A and R then review it as usual)."""
        rec = self.doc.current
        if rec is None:
            return None
        if self.doc.selected is not None:
            return self.doc.suspects.of_instance(rec.id, self.doc.selected)
        found = self.doc.suspects.open_on(rec.id)
        return found[0] if found else None

    def _annotation(self, rec: ImageRecord, s: Suspect) -> Instance | None:
        return next((i for i in rec.instances if i.id == s.annotation_id), None) \
            if s.annotation_id is not None else None

    def show_current(self, select: bool = False) -> None:
        """Outline the current suspect's alternative and say its reason. `select` (a new
        image, a decision, a load): select the image's top suspect's annotation first."""
        if self.outline is not None:
            self.canvas.scene().removeItem(self.outline)
            self.outline = None
        rec = self.doc.current
        if self.doc.queue.state != SUSPECTS or rec is None:
            return
        if select:
            found = self.doc.suspects.open_on(rec.id)
            top = self.doc.suspects.items[found[0]] if found else None
            ann = self._annotation(rec, top) if top is not None else None
            if self.doc.selected is not ann and (ann is not None or found):
                self.doc.select(ann)  # re-enters show_current through selectionChanged
                return
        k = self.current()
        if k is None:
            return
        s = self.doc.suspects.items[k]
        alt = s.alternative(rec.height, rec.width)
        text = REASON_TEXT[s.reason]
        if alt is not None:
            self.outline = outline_item(alt)
            self.canvas.scene().addItem(self.outline)
            name = self.doc.dataset.category_names().get(alt.category_id, alt.category_id)
            text += f"; the model's version (dashed): {name}"
        self.message.emit(f"Suspect {k + 1}/{len(self.doc.suspects.items)} "
                          f"(score {s.score:.2f}): {text}. A keeps, R takes the model's")

    # --------------------------------------------------------------- deciding
    def keep(self) -> None:
        """A: the annotation stays as it is (a person checked it: accepted)."""
        k, rec = self.current(), self.doc.current
        if k is None or rec is None:
            return
        s = self.doc.suspects.items[k]
        ann = self._annotation(rec, s)
        ops = review_edit(rec, [ann], "accepted").ops if ann is not None else []
        self._push(Edit(f"Keep the annotation ({s.reason.replace('_', ' ')})",
                        ops + [SuspectOp(self.doc.suspects, k, KEPT)]))

    def take(self) -> None:
        """R: the model's version: its class, its mask, its new instance, or no instance."""
        k, rec = self.current(), self.doc.current
        if k is None or rec is None:
            return
        s = self.doc.suspects.items[k]
        ann = self._annotation(rec, s)
        alt = s.alternative(rec.height, rec.width)
        if s.reason == "missing":
            alt.id, alt.review = self.doc.dataset.new_annotation_id(), "accepted"
            ops = insert_edit(rec, alt, "").ops
        elif ann is None:
            return
        elif s.reason == "spurious":
            ops = delete_edit(rec, [ann]).ops
        elif s.reason == "wrong_class":
            name = self.doc.dataset.category_names().get(alt.category_id, "")
            ops = relabel_edit(rec, [ann], alt.category_id, name).ops
        else:
            ops = mask_ops(rec, ann, (alt.mask, alt.offset), keep_result=True) \
                + [touch_status(rec)]
        self._push(Edit(f"Take the model's version ({s.reason.replace('_', ' ')})",
                        ops + [SuspectOp(self.doc.suspects, k, TAKEN)]))

    def _push(self, edit: Edit) -> None:
        self.doc.push(edit)
        rec = self.doc.current
        if not self.doc.suspects.open_on(rec.id):  # this image is clear: the next one ranked
            self.doc.select(None)
            ds = self.doc.dataset
            row = next((r for r in self.doc.queue.after()
                        if self.doc.suspects.open_on(ds.images[r].id)), None)
            if row is not None and row != self.doc.row:
                self.doc.set_row(row)
            elif row is None:
                self.message.emit("No suspect left")
                return
        self.show_current(select=True)


def outline_item(inst: Instance) -> QGraphicsPathItem:
    """The instance's outline in the alternative's style (scene pixels == image pixels)."""
    contours, _ = cv2.findContours(np.ascontiguousarray(inst.mask, np.uint8), cv2.RETR_LIST,
                                   cv2.CHAIN_APPROX_SIMPLE)
    path = QPainterPath()
    ox, oy = inst.offset
    for c in contours:
        pts = [QPointF(x + ox + 0.5, y + oy + 0.5) for x, y in c[:, 0, :]]
        if len(pts) > 1:
            path.moveTo(pts[0])
            for p in pts[1:]:
                path.lineTo(p)
            path.closeSubpath()
    item = QGraphicsPathItem(path)
    pen = QPen(ALT_PEN, 2, Qt.DashLine)
    pen.setCosmetic(True)
    item.setPen(pen)
    item.setZValue(10)
    return item
