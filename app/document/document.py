"""The open dataset as a QObject, and its one writer.

Every change to the data goes through push(): user edits, review actions, category
changes and predictions alike, as model/ Edits. A recorded push is a step on the
undo stack; an unrecorded one is a cached-predictions fill of an image no step
refers to, so nothing in the history can conflict with it. The Document also owns
what is shown: the current image, the selection, hidden instances, the score
threshold, a stroke's live preview, and the review queue (model/editing/queue.py: the
image list's filter and order, which the review keys and the prefetch walk too), which
hears of a new image shown or an image's new state before anyone else. File paths belong
to the Session.

The threshold in force is the person's own (the Display slider) or, in Auto mode, the
offer gate's decision for the model version in use (model/effort/gate.py, fitted by
app/inference/gate.py): its threshold, or HIDE when no threshold pays, until Show
anyway. None of this is an undo step: it changes what is shown, never a decision.
"""
from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack
from shiboken6 import isValid

from model.data.annotations import Dataset, ImageRecord, Instance
from model.editing.ops import Change, Edit
from model.editing.actions import predictions_edit
from model.editing.pixels import Rect, union_rect
from model.data.provenance import is_cached
from model.editing.queue import SUSPECTS, QueueChange, ReviewQueue
from model.editing.review import Merge, is_offered
from model.effort.gate import DEFAULT_THRESHOLD, Decision
from model.effort.record import EffortRecord

from .history import EditCommand
from .suspects import SuspectList


HIDE = math.inf  # the threshold in force when the gate hides every offer


class Document(QObject):
    datasetReset = Signal()
    currentChanged = Signal(int)  # row in dataset.images, -1 for none
    instancesChanged = Signal(int, object)  # image id, dirty Rect (None: the whole image)
    imageStateChanged = Signal(int)  # row
    selectionChanged = Signal(object)  # the primary selected Instance, or None
    pixelsEdited = Signal(int, object)  # image id, Rect: a live stroke's preview moved
    categoriesChanged = Signal()
    thresholdChanged = Signal(float)  # the threshold in force (HIDE: no offer shown)
    autoChanged = Signal(bool)  # Auto mode on or off
    gateChanged = Signal(object)  # the gate's Decision for the version in use, or None
    dirtyChanged = Signal(bool)
    historyMoved = Signal(str)  # what an undo or redo did, for the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.dataset: Dataset | None = None
        self.undo_stack = QUndoStack(self)
        self.row = -1
        self.threshold = 0.5  # in force: is_offered uses it (HIDE: no offer)
        self.own_threshold = 0.5  # the person's (the slider), in force when Auto is off
        self.auto = False  # Auto: the gate's decision is in force
        self.gate: Decision | None = None  # the decision for the version in use
        self.shown_anyway = False  # Show anyway: offers shown though none pays
        self.hidden: set[int] = set()  # id() of instances hidden from view (never saved)
        self.selection: list[Instance] = []  # the last one is the primary selection
        self.preview: dict[int, Instance] = {}  # a stroke in progress: id(instance) -> copy
        self.generation = 0  # bumped by every change, recorded or not
        self.image_generation: dict[int, int] = {}  # image id -> generation of its last change
        self.touched: set[int] = set()  # images whose data changed since the last save
        self.categories_touched = False
        self._unsaved = False  # a change the undo stack cannot see (a restored recovery file)
        # the person's effort, kept in step with the history by run() (the Session
        # loads and saves it); nobody else writes it
        self.effort = EffortRecord()
        self._was_dirty = False
        self._rows: dict[int, int] = {}
        self._internal = False  # an index change we made ourselves
        self._index = 0
        self.undo_stack.cleanChanged.connect(self._on_stack_changed)
        self.undo_stack.indexChanged.connect(self._on_index)
        self.suspects = SuspectList(self)  # the audit's, for this dataset (app/document/suspects.py)
        self.queue = ReviewQueue(suspect_score=self.suspects.best_score)
        self.queue.listeners.append(self._on_queue)
        self.suspects.changed.connect(self.queue.refresh)  # first: the ranking is current

    # ------------------------------------------------------------------ dataset
    def set_dataset(self, ds: Dataset) -> None:
        self.dataset = ds
        self._internal = True
        self.undo_stack.clear()
        self._internal = False
        self._index = 0
        self.hidden.clear()
        self.preview = {}
        self.selection = []
        self.row = -1
        self.queue.reset(ds.images)
        self._rows = {rec.id: i for i, rec in enumerate(ds.images)}
        self._unsaved = False
        self.effort = EffortRecord()
        self.touched, self.categories_touched = set(), False
        self.undo_stack.setClean()
        self.suspects.clear()
        self.datasetReset.emit()
        self._emit_dirty()
        if ds.images:
            self.set_row(0)

    @property
    def current(self) -> ImageRecord | None:
        if self.dataset is None or not 0 <= self.row < len(self.dataset.images):
            return None
        return self.dataset.images[self.row]

    def row_of(self, image_id: int) -> int:
        return self._rows.get(image_id, -1)

    def image_record(self, image_id: int) -> ImageRecord | None:
        r = self.row_of(image_id)
        return None if r < 0 else self.dataset.images[r]

    def set_row(self, row: int) -> None:
        if self.dataset is None or not 0 <= row < len(self.dataset.images) or row == self.row:
            return
        self.row = row
        self.queue.set_current(row)
        self.select(None)
        self.currentChanged.emit(row)

    def show_none(self) -> None:
        """Show no image (an image filter that lists none)."""
        if self.row >= 0:
            self.row = -1
            self.queue.set_current(-1)
            self.select(None)
            self.currentChanged.emit(-1)

    def _on_queue(self, change: QueueChange) -> None:
        if change.filter:  # the instance list lists the suspect annotations only
            self.suspects.set_filtering(self.queue.state == SUSPECTS)

    def note_size(self, rec: ImageRecord, width: int, height: int) -> None:
        """A size read from the pixels, for a record that did not know its own."""
        rec.learn_size(width, height)

    # --------------------------------------------------------------- visibility
    def listed(self, rec: ImageRecord) -> list[Instance]:
        """Instances the instance list shows, by the review policy's one rule (the
        training set's too): every decision, and the predictions at or above the
        threshold on an image not marked done."""
        return [i for i in rec.instances if is_offered(rec, i, self.threshold)]

    def drawn(self, rec: ImageRecord) -> list[Instance]:
        """Draw order: large first, so a small object on a large one stays clickable.
        A stroke in progress shows its preview copies instead of the instances."""
        shown = [i for i in self.listed(rec) if i.review != "rejected" and id(i) not in self.hidden]
        if self.preview:
            keys = {id(i) for i in rec.instances}
            shown = [self.preview.get(id(i), i) for i in shown]
            shown += [p for k, p in self.preview.items() if k not in keys]
        shown = [i for i in shown if i.mask.size]
        return sorted(shown, key=lambda i: -i.mask.shape[0] * i.mask.shape[1])

    def set_threshold(self, value: float) -> None:
        """The person's own threshold (the slider): it takes over from Auto."""
        self.own_threshold = value
        if self.auto:
            self.auto = False
            self.autoChanged.emit(False)
        self._update_threshold()

    def restore_threshold(self, value: float, auto: bool) -> None:
        """The stored preferences, at start-up."""
        self.own_threshold = value
        self.set_auto(auto)
        self._update_threshold()

    def set_auto(self, on: bool) -> None:
        if on == self.auto:
            return
        self.auto = on
        self.shown_anyway = False
        self.autoChanged.emit(on)
        self._update_threshold()

    def set_gate(self, decision: Decision | None) -> None:
        """The gate's decision for the version in use (a new version: Show anyway ends)."""
        if decision is None or self.gate is None or decision.version != self.gate.version:
            self.shown_anyway = False
        self.gate = decision
        self._update_threshold()
        self.gateChanged.emit(decision)

    def show_anyway(self) -> None:
        """Show the offers the gate hides, at the person's own threshold (the slider)."""
        if not self.shown_anyway:
            self.shown_anyway = True
            self._update_threshold()
            self.gateChanged.emit(self.gate)

    def threshold_in_force(self) -> float:
        g = self.gate
        if not self.auto:
            return self.own_threshold
        if g is None:  # no version's decision yet (the first fit is being priced)
            return DEFAULT_THRESHOLD
        if not g.hidden:
            return g.threshold
        if self.shown_anyway:
            return self.own_threshold  # the slider's, where the person can see and move it
        return HIDE

    def _update_threshold(self) -> None:
        value = self.threshold_in_force()
        if value == self.threshold:
            return
        self.threshold = value
        self.thresholdChanged.emit(value)
        rec = self.current
        if rec is not None:
            if self.selected is not None and not is_offered(rec, self.selected, self.threshold):
                self.select(None)
            self.instancesChanged.emit(rec.id, None)

    def set_hidden(self, inst: Instance, hidden: bool) -> None:
        if hidden == (id(inst) in self.hidden):
            return
        (self.hidden.add if hidden else self.hidden.discard)(id(inst))
        rec = self.current
        if rec is not None and any(i is inst for i in rec.instances):
            self.instancesChanged.emit(rec.id, None)

    @property
    def selected(self) -> Instance | None:
        return self.selection[-1] if self.selection else None

    def select(self, inst: Instance | None) -> None:
        self.select_many([] if inst is None else [inst])

    def select_many(self, instances: list[Instance]) -> None:
        """Select these; the last one is the primary selection."""
        if len(instances) != len(self.selection) or \
                any(a is not b for a, b in zip(instances, self.selection)):
            self.selection = list(instances)
            self.selectionChanged.emit(self.selected)

    def toggle_selected(self, inst: Instance) -> None:
        """Ctrl+click: add to or remove from a multi-selection (merge needs two)."""
        if any(i is inst for i in self.selection):
            self.select_many([i for i in self.selection if i is not inst])
        else:
            self.select_many(self.selection + [inst])

    # ------------------------------------------------------------ stroke preview
    def show_preview(self, rec: ImageRecord, previews: dict[int, Instance], rect: Rect) -> None:
        """Draw a stroke's working copies in place of its instances (not a change)."""
        self.preview = previews
        self.pixelsEdited.emit(rec.id, rect)

    def end_preview(self, rec: ImageRecord | None = None, rect: Rect | None = None) -> None:
        self.preview = {}
        if rec is not None and rect is not None:
            self.instancesChanged.emit(rec.id, rect)

    # ---------------------------------------------------------------- the writer
    def push(self, edit: Edit, record: bool = True) -> bool:
        """Apply an edit: as an undo step, or (record False) as an image's base state."""
        if not edit:
            return False
        if record:
            self._internal = True
            try:
                self.undo_stack.push(EditCommand(self._apply, edit))  # its redo() applies it
            finally:
                self._internal = False
                self._index = self.undo_stack.index()
        else:
            self._apply(edit, forward=True)
        return True

    def _apply(self, edit: Edit, forward: bool) -> None:
        """Apply or revert an edit and tell the views: the one apply path (push hands it
        to each EditCommand). The
        effort record sees a step before it is applied (the model's masks as they
        were) and after it is reverted."""
        if forward:
            self.effort.note(edit, True)
            changes = edit.apply()
        else:
            changes = edit.revert()
            self.effort.note(edit, False)
        self.generation += 1
        for rec in edit.images:
            self.image_generation[rec.id] = self.generation
            if not edit.cache:
                self.touched.add(rec.id)
        if not edit.cache and any(ch.categories for ch in changes):
            self.categories_touched = True
        self._emit(changes)

    def has_history(self, rec: ImageRecord) -> bool:
        """Does any step, done or undone, refer to this image?"""
        st = self.undo_stack
        return any(rec.id in st.command(k).image_ids for k in range(st.count()))

    def apply_predictions(self, rec: ImageRecord, new: list[Instance], model_categories,
                          model_id: str | None, dedup: bool = True,
                          attention: float | None = None) -> Merge:
        """New predictions replace the image's cached ones. Where a step refers to the
        image they are an undoable step of their own, so undo can never bring an old
        prediction back beside its fresh duplicate; elsewhere they are its base state."""
        p = predictions_edit(self.dataset, rec, new, model_categories, model_id, dedup,
                             attention)
        self.push(p.categories, record=False)
        self.push(p.instances, record=self.has_history(rec))
        return p.merge

    def _emit(self, changes: list[Change]) -> None:
        rects: dict[int, tuple[ImageRecord, Rect | None]] = {}
        rows: set[int] = set()
        categories, selection = False, list(self.selection)
        for ch in changes:
            categories |= ch.categories
            if ch.removed is not None:
                self.hidden.discard(id(ch.removed))
                selection = [i for i in selection if i is not ch.removed]
            if ch.rec is None:
                continue
            if ch.rect is not None or ch.listing:
                _rec, rect = rects.get(ch.rec.id, (ch.rec, None))
                rects[ch.rec.id] = (ch.rec, union_rect(rect, ch.rect))
            if ch.status or ch.listing:
                rows.add(self.row_of(ch.rec.id))
        self.select_many(selection)
        if categories:
            self.categoriesChanged.emit()
            if self.current is not None:
                rects[self.current.id] = (self.current, None)
        for image_id, (_rec, rect) in rects.items():
            self.instancesChanged.emit(image_id, rect)
        for row in sorted(rows):
            self.queue.touch(row)  # it may leave the filter, or move in the order
            self.imageStateChanged.emit(row)

    # ------------------------------------------------------------------- history
    def undo(self) -> None:
        st = self.undo_stack
        if not st.canUndo():
            return
        cmd = st.command(st.index() - 1)
        if getattr(cmd, "dropped", False):
            self.historyMoved.emit("Older steps were dropped to stay within the undo memory budget")
            return
        self._step(cmd, st.undo, "Undone")

    def redo(self) -> None:
        st = self.undo_stack
        if st.canRedo():
            self._step(st.command(st.index()), st.redo, "Redone")

    def _show_image_of(self, cmd) -> None:
        """Undo never changes what the user cannot see: go to the step's image first."""
        if len(cmd.image_ids) == 1:
            row = self.row_of(next(iter(cmd.image_ids)))
            if row >= 0:
                self.set_row(row)

    def _step(self, cmd, move, verb: str) -> None:
        self._show_image_of(cmd)
        text = cmd.text()
        self._internal = True
        try:
            move()
        finally:
            self._internal = False
            self._index = self.undo_stack.index()
        self.historyMoved.emit(f"{verb}: {text}")

    def _on_index(self, index: int) -> None:
        if not isValid(self.undo_stack):
            return
        old, self._index = self._index, index
        if not self._internal and index != old and self.dataset is not None:
            # a jump in the history view: show the image of the last step it crossed
            k = index if index < old else index - 1
            if 0 <= k < self.undo_stack.count():
                self._show_image_of(self.undo_stack.command(k))
        self._emit_dirty()

    # ---------------------------------------------------------------------- save
    @property
    def dirty(self) -> bool:
        """True when the data differs from the last save. Steps that only touch
        cached predictions do not count: the COCO file does not hold them."""
        if self._unsaved:
            return True
        st = self.undo_stack
        clean = st.cleanIndex()
        if clean < 0:
            return True  # the saved state is no longer in the history
        lo, hi = sorted((clean, st.index()))
        return any(not st.command(k).cache for k in range(lo, hi))

    def mark_saved(self, path: Path | None = None, written: Dataset | None = None) -> None:
        """The document is what the disk holds: after a save to `path` of `written`
        (its data_view), the dataset is that file and its ids continue after it."""
        if path is not None:
            self.dataset.path = Path(path)
        if written is not None:
            self.dataset.continue_ids_from(written)
        self._unsaved = False
        self.touched, self.categories_touched = set(), False
        self.undo_stack.setClean()
        self._emit_dirty()

    def mark_unsaved(self, image_ids=(), categories: bool = False) -> None:
        """Changes the history cannot see (a restored recovery copy) on these images."""
        self._unsaved = True
        self.generation += 1
        self.touched.update(image_ids)
        self.categories_touched |= categories
        self._emit_dirty()

    def _on_stack_changed(self, *_args) -> None:
        if isValid(self.undo_stack):  # the stack signals while it is being destroyed, too
            self._emit_dirty()

    def _emit_dirty(self) -> None:
        d = self.dirty
        if d != self._was_dirty:
            self._was_dirty = d
            self.dirtyChanged.emit(d)

    def data_view(self) -> Dataset:
        """The dataset as the COCO file holds it: every decision and everything the
        file came with, but no cached predictions, and adopted classes only once a
        decision uses them."""
        ds = self.dataset
        out = Dataset([], [], ds.image_root, ds.path, ds.extra)
        out.key_order = ds.key_order
        out.continue_ids_from(ds)
        used: set[int] = set()
        for rec in ds.images:
            keep = [i for i in rec.instances if not is_cached(i)]
            used.update(i.category_id for i in keep)
            out.images.append(ImageRecord(rec.id, rec.file_name, rec.width, rec.height, keep,
                                          rec.status, rec.extra, rec.path_error))
        out.categories = [c for c in ds.categories if not c.adopted or c.id in used]
        return out
