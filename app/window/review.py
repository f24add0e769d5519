"""Review keys: accept, reject, hide, step through instances and images, mark done.

A and R act on the selection, then go to the next unreviewed instance after it,
wrapping around (model/review.py's rule): never back to the first, never to an
instance a person already decided or drew. The image keys walk the image list's
order, its filter applied.
"""
from __future__ import annotations

from typing import Iterable, Protocol

from PySide6.QtCore import QObject, Signal

from model.editing.actions import review_edit, status_edit
from model.editing.ops import AttrOp, Edit
from model.editing.review import next_to_review
from model.effort.actions import ACCEPT, REJECT

from ..document.document import Document


def decisions(edit: Edit, review: str) -> Edit:
    """Tag a review edit with its gestures: one accept or reject per instance decided
    (each one a person looked at and judged), as the simulated annotator counts them."""
    kind = {"accepted": ACCEPT, "rejected": REJECT}.get(review)
    n = sum(1 for op in edit.ops if isinstance(op, AttrOp) and op.name == "review"
            and op.after == review)
    if kind is not None and n:
        edit.gestures = {kind: n}
    return edit


class ImageOrder(Protocol):
    """The order the image keys walk (the image list's, filter applied)."""
    filtered: bool

    def step(self, row: int, k: int) -> int | None: ...

    def after(self, row: int) -> Iterable[int]: ...


class ReviewController(QObject):
    message = Signal(str)

    def __init__(self, doc: Document, order: ImageOrder):
        super().__init__()
        self.doc = doc
        self.order = order

    def _next(self, after) -> None:
        rec = self.doc.current
        nxt = next_to_review(self.doc.listed(rec), after, self.doc.hidden)
        self.doc.select(nxt)
        if nxt is None:
            self.message.emit("No prediction left to review on this image; "
                              "M marks the image done")

    def review_selected(self, review: str) -> None:
        rec = self.doc.current
        if rec is None:
            return
        chosen = list(self.doc.selection)
        if not chosen:  # nothing selected: go to the first instance to review
            self._next(None)
            return
        self.doc.push(decisions(review_edit(rec, chosen, review), review))
        self._next(chosen[-1])

    def toggle_hidden(self) -> None:
        inst = self.doc.selected
        if inst is not None:
            self.doc.set_hidden(inst, id(inst) not in self.doc.hidden)

    def step_instance(self, step: int) -> None:
        rec = self.doc.current
        if rec is None:
            return
        items = self.doc.listed(rec)
        if not items:
            return
        cur = next((k for k, i in enumerate(items) if i is self.doc.selected), None)
        if cur is None:
            k = 0 if step > 0 else len(items) - 1
        else:
            k = (cur + step) % len(items)
        self.doc.select(items[k])

    def mark_done(self) -> None:
        rec = self.doc.current
        if rec is None:
            return
        self.doc.push(decisions(status_edit(rec, rec.status != "done", self.doc.drawn(rec)),
                                "accepted"))
        if rec.status == "done":
            self.next_unreviewed()

    def step_image(self, step: int) -> None:
        """D / Q: the next or previous image listed (the filter applies)."""
        if self.doc.dataset is None or not self.doc.dataset.images:
            return
        row = self.order.step(self.doc.row, step)
        if row is not None:
            self.doc.set_row(row)
        else:
            self.message.emit("No image matches the filter")

    def next_unreviewed(self) -> None:
        """U, and M's jump: the next listed image that is not done, wrapping around."""
        ds = self.doc.dataset
        if ds is None or not ds.images:
            return
        for row in self.order.after(self.doc.row):
            if row != self.doc.row and ds.images[row].status != "done":
                self.doc.set_row(row)
                return
        self.message.emit("Every image the filter lists is done." if self.order.filtered
                          else "Every image is done.")
