"""One QUndoCommand per user action (Qt's undoframework example). Each stores only
what it changes, so undo restores it exactly."""
from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from model.annotations import ImageRecord, Instance

from .document import Document, is_pristine_prediction


def _touch_status(rec: ImageRecord) -> str:
    """Reviewing or editing anything on an unreviewed image puts it in progress."""
    return "in_progress" if rec.status == "unreviewed" else rec.status


class SetReviewCommand(QUndoCommand):
    """Accept or reject instances (A / R)."""

    def __init__(self, doc: Document, rec: ImageRecord, instances: list[Instance], review: str):
        verb = {"accepted": "Accept", "rejected": "Reject", "unreviewed": "Reset review"}[review]
        n = len(instances)
        super().__init__(f"{verb} {n} instance{'s' if n != 1 else ''}")
        self.doc, self.rec, self.review = doc, rec, review
        self.before = [(i, i.review) for i in instances]
        self.status_before = rec.status

    def redo(self) -> None:
        self.doc.set_review(self.rec, [(i, self.review) for i, _ in self.before])
        self.doc.set_status(self.rec, _touch_status(self.rec))

    def undo(self) -> None:
        self.doc.set_review(self.rec, self.before)
        self.doc.set_status(self.rec, self.status_before)


class SetImageStatusCommand(QUndoCommand):
    """Mark an image done, accepting every prediction still shown and unreviewed
    (what a reviewer means by 'this image is right'), or reopen it."""

    def __init__(self, doc: Document, rec: ImageRecord, done: bool):
        super().__init__(f"Mark {rec.file_name} {'done' if done else 'in progress'}")
        self.doc, self.rec = doc, rec
        self.status_before = rec.status
        self.status_after = "done" if done else "in_progress"
        shown = doc.drawn(rec) if done else []
        self.accepted = [(i, i.review) for i in shown if is_pristine_prediction(i)]

    def redo(self) -> None:
        if self.accepted:
            self.doc.set_review(self.rec, [(i, "accepted") for i, _ in self.accepted])
        self.doc.set_status(self.rec, self.status_after)

    def undo(self) -> None:
        if self.accepted:
            self.doc.set_review(self.rec, self.accepted)
        self.doc.set_status(self.rec, self.status_before)
