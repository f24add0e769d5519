"""Review keys: accept, reject, reject all, hide, step through instances and images,
mark done.

A and R act on the selection, then go to the next unreviewed instance after it,
wrapping around (model/editing/review.py's rule): never back to the first, never to an
instance a person already decided or drew. The image keys walk the review queue
(model/editing/queue.py: the image list's order, its filter applied): D and Q stop at
its ends, as a file list does (labelme's next image, CVAT's next frame), and say so; U
and M's jump search for an image not done, wrapping around like a search, and say when
they wrapped.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from model.editing.actions import review_edit, review_hidden_edit, status_edit
from model.editing.ops import AttrOp, Edit
from model.data.provenance import is_pristine
from model.editing.queue import ReviewQueue
from model.editing.review import next_to_review, set_aside
from model.effort.actions import ACCEPT, REJECT, REJECT_ALL

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


class ReviewController(QObject):
    message = Signal(str)

    def __init__(self, doc: Document, queue: ReviewQueue):
        super().__init__()
        self.doc = doc
        self.queue = queue  # the image list's order, filter applied (the Document's)

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

    def reject_all(self) -> None:
        """Shift+R: reject every prediction shown on this image that nobody reviewed
        yet, one undo step and one gesture (the simulated annotator's reject_all): what
        a person does once the good offers are accepted or corrected."""
        rec = self.doc.current
        if rec is None:
            return
        todo = [i for i in self.doc.listed(rec)
                if is_pristine(i) and id(i) not in self.doc.hidden and i.mask.size]
        if not todo:
            self.message.emit(f"{rec.file_name}: no unreviewed prediction shown to reject")
            return
        edit = review_edit(rec, todo, "rejected")
        edit.gestures = {REJECT_ALL: 1}
        self.doc.push(edit)
        self.doc.select(None)
        self.message.emit(f"{rec.file_name}: rejected {len(todo)} unreviewed prediction(s); "
                          "M marks the image done")

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

    def review_hidden(self) -> None:
        """Review hidden predictions: reopen the image marked done (one undo step) so
        the predictions it set aside are offered again, at the current threshold."""
        rec = self.doc.current
        if rec is None:
            return
        name = rec.file_name
        if rec.status != "done":
            self.message.emit(f"{name} is not marked done: every prediction at or above the "
                              "score threshold is shown (lower it in Display to see more)")
            return
        aside = set_aside(rec)
        shown = [i for i in aside if (i.score or 0.0) >= self.doc.threshold]
        if aside and self.doc.threshold > 1.0:
            self.message.emit(f"{name}: {len(aside)} hidden prediction(s); Auto hides this "
                              "model version's offers (Show anyway in the status bar shows "
                              "them), then ask again")
            return
        if not shown:
            self.message.emit(
                f"{name}: {len(aside)} hidden prediction(s), all under the score threshold "
                f"{self.doc.threshold:.2f}; lower it in Display, then ask again" if aside else
                f"{name}: no prediction was left unreviewed when it was marked done")
            return
        self.doc.push(review_hidden_edit(rec))
        self.doc.select(None)
        self._next(None)
        self.message.emit(f"{name} is in progress again: {len(shown)} hidden prediction(s) to "
                          "review (A / R); M marks it done again")

    def _end(self) -> str:
        return "in this filter" if self.queue.filtered else "in the list"

    def step_image(self, step: int) -> None:
        """D / Q: the next or previous image listed (the filter applies), stopping at
        the ends of the list with a word in the status bar."""
        if self.doc.dataset is None or not self.doc.dataset.images:
            return
        row = self.queue.step(step)
        if row is None:
            self.message.emit("No image matches the filter")
        elif row == self.doc.row:
            self.message.emit(f"{'Last' if step > 0 else 'First'} image {self._end()}")
        else:
            self.doc.set_row(row)

    def next_unreviewed(self) -> None:
        """U, and M's jump: the next listed image that is not done, wrapping around."""
        ds = self.doc.dataset
        if ds is None or not ds.images:
            return
        found = self.queue.next_unreviewed()
        if found is None:
            self.message.emit("Every image the filter lists is done." if self.queue.filtered
                              else "Every image is done.")
            return
        row, wrapped = found
        self.doc.set_row(row)
        if wrapped:
            self.message.emit(f"Wrapped around to the first image {self._end()} "
                              "that is not done")
