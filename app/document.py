"""The open dataset and the current image, as a QObject with signals.

User actions change it only through QUndoCommands (commands.py); predictions
arriving from the worker are the one other writer, and they never replace an
instance a person has reviewed or edited.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack
from shiboken6 import isValid

from model.annotations import Category, Dataset, ImageRecord, Instance
from model.coco import save_dataset

from .canvas.overlay import Rect, instance_rect, union

DEDUP_IOU = 0.5  # a new prediction this close to a reviewed instance is a duplicate


def mask_iou(a: Instance, b: Instance) -> float:
    ra, rb = instance_rect(a), instance_rect(b)
    if ra is None or rb is None:
        return 0.0
    x0, y0, x1, y1 = max(ra[0], rb[0]), max(ra[1], rb[1]), min(ra[2], rb[2]), min(ra[3], rb[3])
    if x0 >= x1 or y0 >= y1:
        return 0.0
    ma = a.mask[y0 - ra[1]:y1 - ra[1], x0 - ra[0]:x1 - ra[0]]
    mb = b.mask[y0 - rb[1]:y1 - rb[1], x0 - rb[0]:x1 - rb[0]]
    inter = np.count_nonzero(ma & mb)
    total = np.count_nonzero(a.mask) + np.count_nonzero(b.mask) - inter
    return inter / total if total else 0.0


def is_pristine_prediction(inst: Instance) -> bool:
    """A model prediction nobody has looked at: the only kind a new prediction may replace."""
    return inst.source == "model" and inst.review == "unreviewed"


class Document(QObject):
    datasetReset = Signal()
    currentChanged = Signal(int)  # row in dataset.images, -1 for none
    instancesChanged = Signal(int, object)  # image id, dirty Rect (None: the whole image)
    imageStateChanged = Signal(int)  # row
    selectionChanged = Signal(object)  # the primary selected Instance, or None
    pixelsEdited = Signal(int, object)  # image id, Rect: live stroke pixels, nothing else changed
    categoriesChanged = Signal()
    thresholdChanged = Signal(float)
    dirtyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.dataset: Dataset | None = None
        self.coco_path: Path | None = None  # where Save writes; None until chosen
        self.undo_stack = QUndoStack(self)
        self.row = -1
        self.threshold = 0.5
        self.hidden: set[int] = set()  # id() of instances hidden from view (not saved)
        self.selection: list[Instance] = []  # the last one is the primary selection
        self.predicted: set[int] = set()  # image ids predicted by the current model
        self._background_changes = False
        self.generation = 0  # bumped by every change that is not an undo command
        self._was_dirty = False
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._rows: dict[int, int] = {}

    # ------------------------------------------------------------------ dataset
    def set_dataset(self, ds: Dataset, coco_path: Path | None) -> None:
        self.dataset = ds
        self.coco_path = coco_path
        self.undo_stack.clear()
        self.hidden.clear()
        self.predicted.clear()
        self.selection = []
        self.row = -1
        self._rows = {rec.id: i for i, rec in enumerate(ds.images)}
        self._background_changes = False
        self.undo_stack.setClean()
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

    def record(self, image_id: int) -> ImageRecord | None:
        r = self.row_of(image_id)
        return None if r < 0 else self.dataset.images[r]

    def set_row(self, row: int) -> None:
        if self.dataset is None or not 0 <= row < len(self.dataset.images) or row == self.row:
            return
        self.row = row
        self.select(None)
        self.currentChanged.emit(row)

    # --------------------------------------------------------------- visibility
    def passes_threshold(self, inst: Instance) -> bool:
        return not is_pristine_prediction(inst) or (inst.score or 0.0) >= self.threshold

    def listed(self, rec: ImageRecord) -> list[Instance]:
        """Instances the instance list shows: everything but hidden-by-threshold predictions."""
        return [i for i in rec.instances if self.passes_threshold(i)]

    def drawn(self, rec: ImageRecord) -> list[Instance]:
        """Draw order: large first, so a small object on a large one stays clickable."""
        shown = [i for i in self.listed(rec)
                 if i.review != "rejected" and id(i) not in self.hidden and i.mask.size]
        return sorted(shown, key=lambda i: -i.mask.shape[0] * i.mask.shape[1])

    def set_threshold(self, value: float) -> None:
        if value == self.threshold:
            return
        self.threshold = value
        self.thresholdChanged.emit(value)
        rec = self.current
        if rec is not None:
            if self.selected is not None and not self.passes_threshold(self.selected):
                self.select(None)
            self.instancesChanged.emit(rec.id, None)

    def set_hidden(self, inst: Instance, hidden: bool) -> None:
        if hidden == (id(inst) in self.hidden):
            return
        (self.hidden.add if hidden else self.hidden.discard)(id(inst))
        rec = self._owner(inst)
        if rec is not None:
            self.instancesChanged.emit(rec.id, instance_rect(inst))

    @property
    def selected(self) -> Instance | None:
        return self.selection[-1] if self.selection else None

    def select(self, inst: Instance | None) -> None:
        new = [] if inst is None else [inst]
        if len(new) != len(self.selection) or any(a is not b for a, b in zip(new, self.selection)):
            self.selection = new
            self.selectionChanged.emit(inst)

    def toggle_selected(self, inst: Instance) -> None:
        """Ctrl+click: add to or remove from a multi-selection (merge needs two)."""
        if any(i is inst for i in self.selection):
            self.selection = [i for i in self.selection if i is not inst]
        else:
            self.selection = self.selection + [inst]
        self.selectionChanged.emit(self.selected)

    def _owner(self, inst: Instance) -> ImageRecord | None:
        rec = self.current
        if rec is not None and any(i is inst for i in rec.instances):
            return rec
        for rec in self.dataset.images if self.dataset else []:
            if any(i is inst for i in rec.instances):
                return rec
        return None

    # ------------------------------------------------- mutations (for commands)
    def set_instance_attr(self, rec: ImageRecord, inst: Instance, name: str, value) -> None:
        setattr(inst, name, value)
        self.instancesChanged.emit(rec.id, instance_rect(inst))

    def set_instance_mask(self, rec: ImageRecord, inst: Instance, mask: np.ndarray,
                          offset, rect: Rect | None = None) -> None:
        old = instance_rect(inst)
        inst.set_mask(mask, offset)
        self.instancesChanged.emit(rec.id, union(union(old, instance_rect(inst)), rect))

    def insert_instance(self, rec: ImageRecord, inst: Instance, index: int) -> None:
        if inst.id is None:
            inst.id = self.dataset.new_annotation_id()
        rec.instances.insert(min(index, len(rec.instances)), inst)
        self.instancesChanged.emit(rec.id, instance_rect(inst))
        self.imageStateChanged.emit(self.row_of(rec.id))

    def remove_instance(self, rec: ImageRecord, inst: Instance) -> int:
        index = next(k for k, i in enumerate(rec.instances) if i is inst)
        del rec.instances[index]
        self.hidden.discard(id(inst))
        if any(i is inst for i in self.selection):
            self.selection = [i for i in self.selection if i is not inst]
            self.selectionChanged.emit(self.selected)
        self.instancesChanged.emit(rec.id, instance_rect(inst))
        self.imageStateChanged.emit(self.row_of(rec.id))
        return index

    def replace_category(self, old: Category | None, new: Category | None, index: int) -> None:
        cats = self.dataset.categories
        if old is not None:
            pos = next(k for k, c in enumerate(cats) if c is old)
            if new is None:
                del cats[pos]
            else:
                cats[pos] = new
        elif new is not None:
            cats.insert(index if 0 <= index <= len(cats) else len(cats), new)
        self.categoriesChanged.emit()
        rec = self.current
        if rec is not None:
            self.instancesChanged.emit(rec.id, None)

    def set_status(self, rec: ImageRecord, status: str) -> None:
        if rec.status != status:
            rec.status = status
            self.imageStateChanged.emit(self.row_of(rec.id))

    # --------------------------------------------------------------- predictions
    def adopt_categories(self, instances: list[Instance], model_categories: list) -> list[Instance]:
        """Give predictions the dataset's category ids, matching classes by name.

        A COCO model on a dataset of its own classes must not label a 'person' as
        whatever the dataset calls id 1. A class the dataset lacks is added, keeping
        the model's id when it is free.
        """
        ds = self.dataset
        by_name = {c.name.lower(): c.id for c in ds.categories}
        used = {c.id for c in ds.categories}
        model_by_id = {c.id: c for c in model_categories}
        mapping: dict[int, int] = {}
        for inst in instances:
            mid = inst.category_id
            if mid in mapping:
                continue
            mc = model_by_id.get(mid)
            if mc is None:
                mapping[mid] = mid
                continue
            if mc.name.lower() in by_name:
                mapping[mid] = by_name[mc.name.lower()]
                continue
            new_id = mid if mid not in used else max(used, default=0) + 1
            ds.categories.append(Category(new_id, mc.name, mc.supercategory))
            used.add(new_id)
            by_name[mc.name.lower()] = new_id
            mapping[mid] = new_id
            self.mark_changed()
        for inst in instances:
            inst.category_id = mapping.get(inst.category_id, inst.category_id)
        return instances

    def apply_predictions(self, image_id: int, new: list[Instance]) -> int:
        """Replace the image's untouched predictions; keep everything a person touched.

        A new prediction that overlaps a kept instance (IoU >= DEDUP_IOU) is a
        duplicate of something already reviewed and is dropped. Returns how many
        predictions were added.
        """
        rec = self.record(image_id)
        if rec is None:
            return 0
        kept = [i for i in rec.instances if not is_pristine_prediction(i)]
        fresh = [n for n in new if all(mask_iou(n, k) < DEDUP_IOU for k in kept)]
        old_rect = None
        for i in rec.instances:
            if is_pristine_prediction(i):
                old_rect = union(old_rect, instance_rect(i))
                self.hidden.discard(id(i))
        if self.selected is not None and is_pristine_prediction(self.selected) \
                and any(i is self.selected for i in rec.instances):
            self.select(None)
        rec.instances = kept
        for inst in fresh:
            self.dataset.add_instance(rec, inst)
            old_rect = union(old_rect, instance_rect(inst))
        self.predicted.add(image_id)
        self._background_changes = True
        self.generation += 1
        self.instancesChanged.emit(image_id, old_rect)
        self.imageStateChanged.emit(self.row_of(image_id))
        self._emit_dirty()
        return len(fresh)

    # ---------------------------------------------------------------------- save
    @property
    def dirty(self) -> bool:
        return self._background_changes or not self.undo_stack.isClean()

    def mark_changed(self) -> None:
        self._background_changes = True
        self.generation += 1
        self._emit_dirty()

    def _on_clean_changed(self, _clean: bool) -> None:
        if isValid(self.undo_stack):  # the stack signals while it is being destroyed, too
            self._emit_dirty()

    def _emit_dirty(self) -> None:
        d = self.dirty
        if d != self._was_dirty:
            self._was_dirty = d
            self.dirtyChanged.emit(d)

    def saveable(self) -> Dataset:
        """The dataset as it should be written: predictions below the threshold that
        nobody reviewed are not part of it."""
        ds = self.dataset
        out = Dataset(ds.categories, [], ds.image_root, ds.path, ds.extra)
        out.key_order = ds.key_order
        out._next_ann_id = ds._next_ann_id
        for rec in ds.images:
            ds.ensure_size(rec)
            copy = ImageRecord(rec.id, rec.file_name, rec.width, rec.height,
                               [i for i in rec.instances if self.passes_threshold(i)],
                               rec.status, rec.extra, rec.path_error)
            out.images.append(copy)
        return out

    def save(self, path: Path) -> None:
        out = self.saveable()
        save_dataset(out, path)
        self.dataset._next_ann_id = max(self.dataset._next_ann_id, out._next_ann_id)
        self.coco_path = Path(path)
        self.dataset.path = Path(path)
        self._background_changes = False
        self.undo_stack.setClean()
        self._emit_dirty()
