"""The audit's suspects (model/audit, SUSPECTS.json) while a dataset is open.

The list is owned by the Document; its one writer is the undo stack too: deciding a
suspect (A keeps the annotation, R takes the model's version) is one Edit whose last op
is a SuspectOp, so undo brings the suspect back with the annotation as it was."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from model.audit.suspects import Suspect, read_suspects
from model.data.annotations import Dataset, Instance
from model.editing.ops import Change, Op

OPEN, KEPT, TAKEN = "open", "kept", "taken"


class SuspectList(QObject):
    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.items: list[Suspect] = []
        self.state: list[str] = []
        self.path: Path | None = None
        self.filtering = False  # the image list's Suspects filter is on (the instance list
        # then lists the suspect annotations only)

    def set_filtering(self, on: bool) -> None:
        if on != self.filtering:
            self.filtering = on
            self.changed.emit()

    def load(self, path: Path | str, ds: Dataset) -> int:
        """Read and check SUSPECTS.json against the open dataset (SuspectsFileError)."""
        items = read_suspects(path, ds)
        self.items, self.state, self.path = items, [OPEN] * len(items), Path(path)
        self.changed.emit()
        return len(items)

    def clear(self) -> None:
        if self.items:
            self.items, self.state, self.path = [], [], None
            self.changed.emit()

    def open_on(self, image_id: int) -> list[int]:
        """Indexes of the image's open suspects, ranked (the list is ranked)."""
        return [k for k, s in enumerate(self.items)
                if s.image_id == image_id and self.state[k] == OPEN]

    def best_score(self, image_id: int) -> float | None:
        found = self.open_on(image_id)
        return self.items[found[0]].score if found else None

    def of_instance(self, image_id: int, inst: Instance | None) -> int | None:
        if inst is None or inst.id is None:
            return None
        return next((k for k in self.open_on(image_id)
                     if self.items[k].annotation_id == inst.id), None)

    def set_state(self, k: int, state: str) -> None:
        self.state[k] = state
        self.changed.emit()


class SuspectOp(Op):
    """Marks one suspect decided (or open again on revert)."""

    def __init__(self, suspects: SuspectList, index: int, after: str):
        self.suspects, self.index, self.after = suspects, index, after
        self.before = suspects.state[index]

    def apply(self) -> Change:
        self.suspects.set_state(self.index, self.after)
        return Change()

    def revert(self) -> Change:
        self.suspects.set_state(self.index, self.before)
        return Change()
