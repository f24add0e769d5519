"""Undoable changes to a dataset: small ops that apply and revert exactly.

A mask change keeps only the changed rectangle, before and after, bit-packed, so a
step's memory follows the area touched, never the image (napari's _MaskedPaintAtom
does the same). An Edit is one user action: its ops apply in order and revert
backwards. Every op reports what it changed as a Change, so a UI redraws just that.
Nothing here knows about Qt; the app's undo commands wrap Edits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.data.provenance import is_pristine
from model.editing.pixel_ops import Rect, mask_rect, patch_of, union_rect, with_patch

Mask = tuple[np.ndarray, tuple[int, int]]


@dataclass
class Change:
    """What one op did, for whoever shows the dataset."""
    rec: ImageRecord | None = None  # None: a dataset-wide change (categories)
    rect: Rect | None = None  # pixels to redraw
    listing: bool = False  # instances came, went or changed attributes
    status: bool = False  # the image's review state
    categories: bool = False
    removed: Instance | None = None  # an instance that left its image


def _pack(a: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    return np.packbits(a, axis=None), a.shape


def _unpack(packed: tuple[np.ndarray, tuple[int, int]]) -> np.ndarray:
    bits, shape = packed
    return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)


def diff_rect(before: Mask, after: Mask) -> Rect | None:
    """Bounding box of the pixels that differ between two cropped masks."""
    full = union_rect(mask_rect(*before), mask_rect(*after))
    if full is None:
        return None
    d = patch_of(*before, full) ^ patch_of(*after, full)
    rows, cols = np.flatnonzero(d.any(axis=1)), np.flatnonzero(d.any(axis=0))
    if rows.size == 0:
        return None
    return (full[0] + int(cols[0]), full[1] + int(rows[0]),
            full[0] + int(cols[-1]) + 1, full[1] + int(rows[-1]) + 1)


def _index(rec: ImageRecord, inst: Instance) -> int:
    return next(k for k, i in enumerate(rec.instances) if i is inst)


class Op:
    """Changes one thing and can change it back; `rec` is its image, when it has one."""

    nbytes = 0

    def apply(self) -> Change:
        raise NotImplementedError

    def revert(self) -> Change:
        raise NotImplementedError


@dataclass(eq=False)
class PatchOp(Op):
    """Pixels of one instance inside `rect`, before and after, plus its provenance."""
    rec: ImageRecord
    inst: Instance
    rect: Rect
    before: tuple
    after: tuple
    state_before: tuple
    state_after: tuple
    after_mask: Mask | None = None  # the result, when the caller computed it already

    @classmethod
    def build(cls, rec: ImageRecord, inst: Instance, after: Mask, rect: Rect | None = None,
              keep_result: bool = False) -> "PatchOp | None":
        """The op that turns inst's mask into `after`; None when no pixel changes."""
        before = (inst.mask, inst.offset)
        rect = diff_rect(before, after) if rect is None else rect
        if rect is None:
            return None
        b, a = patch_of(*before, rect), patch_of(*after, rect)
        if not (b ^ a).any():
            return None
        return cls(rec, inst, rect, _pack(b), _pack(a), inst.edit_state(),
                   inst.state_after_edit(), after if keep_result else None)

    @property
    def nbytes(self) -> int:
        return self.before[0].nbytes + self.after[0].nbytes

    def _set(self, mask: Mask, state: tuple) -> Change:
        old = mask_rect(self.inst.mask, self.inst.offset)
        self.inst.set_mask(*mask)
        self.inst.restore_edit_state(state)
        return Change(self.rec, union_rect(union_rect(old, self.rect),
                                           mask_rect(self.inst.mask, self.inst.offset)),
                      listing=True)

    def apply(self) -> Change:
        mask, self.after_mask = self.after_mask, None  # used once, then the packed patch
        if mask is None:
            mask = with_patch(self.inst.mask, self.inst.offset, self.rect, _unpack(self.after))
        return self._set(mask, self.state_after)

    def revert(self) -> Change:
        return self._set(with_patch(self.inst.mask, self.inst.offset, self.rect,
                                    _unpack(self.before)), self.state_before)


@dataclass(eq=False)
class InsertOp(Op):
    rec: ImageRecord
    inst: Instance
    index: int

    def apply(self) -> Change:
        self.rec.instances.insert(min(self.index, len(self.rec.instances)), self.inst)
        return Change(self.rec, mask_rect(self.inst.mask, self.inst.offset), listing=True)

    def revert(self) -> Change:
        del self.rec.instances[_index(self.rec, self.inst)]
        return Change(self.rec, mask_rect(self.inst.mask, self.inst.offset), listing=True,
                      removed=self.inst)


@dataclass(eq=False)
class RemoveOp(InsertOp):
    def apply(self) -> Change:
        return InsertOp.revert(self)

    def revert(self) -> Change:
        return InsertOp.apply(self)


@dataclass(eq=False)
class AttrOp(Op):
    """Category, review or provenance of one instance."""
    rec: ImageRecord
    inst: Instance
    name: str
    before: object
    after: object

    def _set(self, value) -> Change:
        setattr(self.inst, self.name, value)
        return Change(self.rec, mask_rect(self.inst.mask, self.inst.offset), listing=True)

    def apply(self) -> Change:
        return self._set(self.after)

    def revert(self) -> Change:
        return self._set(self.before)


@dataclass(eq=False)
class StatusOp(Op):
    """An image's review state. Into or out of done, it changes which predictions
    are offered (model/editing/review.py's is_offered), so the listing changes too."""
    rec: ImageRecord
    before: str
    after: str

    def _set(self, status: str) -> Change:
        self.rec.status = status
        if "done" not in (self.before, self.after):
            return Change(self.rec, status=True)
        moved = [i for i in self.rec.instances if is_pristine(i)]  # offered or set aside
        rect = None
        for inst in moved:
            rect = union_rect(rect, mask_rect(inst.mask, inst.offset))
        return Change(self.rec, rect, listing=bool(moved), status=True)

    def apply(self) -> Change:
        return self._set(self.after)

    def revert(self) -> Change:
        return self._set(self.before)


@dataclass(eq=False)
class StampOp(Op):
    """Which model made an image's cached predictions (None: never predicted), and
    their review priority (the image list's Attention column shows it)."""
    rec: ImageRecord
    before: str | None
    after: str | None
    attention_before: float | None = None
    attention_after: float | None = None

    def apply(self) -> Change:
        self.rec.prediction_model, self.rec.attention = self.after, self.attention_after
        return Change(self.rec, status=self.attention_before != self.attention_after)

    def revert(self) -> Change:
        self.rec.prediction_model, self.rec.attention = self.before, self.attention_before
        return Change(self.rec, status=self.attention_before != self.attention_after)


@dataclass(eq=False)
class CategoryOp(Op):
    """Add (before None), remove (after None) or replace one category. A removed id
    is retired, so a category adopted later never takes it while undo may bring the
    removed one back."""
    ds: Dataset
    before: Category | None
    after: Category | None
    index: int = -1

    def _swap(self, old: Category | None, new: Category | None) -> Change:
        cats = self.ds.categories
        if old is not None:
            pos = next(k for k, c in enumerate(cats) if c is old)
            if new is None:
                self.ds.retired_category_ids.add(old.id)
                del cats[pos]
            else:
                cats[pos] = new
        elif new is not None:
            cats.insert(self.index if 0 <= self.index <= len(cats) else len(cats), new)
        return Change(categories=True)

    def apply(self) -> Change:
        return self._swap(self.before, self.after)

    def revert(self) -> Change:
        return self._swap(self.after, self.before)


@dataclass(eq=False)
class Edit:
    """One user action (or one prediction result): ops applied in order.

    `cache` marks an edit that only touches cached predictions: it never makes the
    dataset unsaved, since the COCO file does not hold the cache. `gestures` is the
    person's work it stands for, by action kind (model/effort/action_costs.py), so the
    effort record follows the undo history exactly.
    """
    text: str
    ops: list[Op] = field(default_factory=list)
    cache: bool = False
    gestures: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ops = [op for op in self.ops if op is not None]

    def __bool__(self) -> bool:
        return bool(self.ops)

    @property
    def images(self) -> list[ImageRecord]:
        """The images this edit changes, in order of first touch."""
        seen: dict[int, ImageRecord] = {}
        for op in self.ops:
            rec = getattr(op, "rec", None)
            if rec is not None:
                seen.setdefault(id(rec), rec)
        return list(seen.values())

    @property
    def nbytes(self) -> int:
        return sum(op.nbytes for op in self.ops)

    def apply(self) -> list[Change]:
        return [op.apply() for op in self.ops]

    def revert(self) -> list[Change]:
        return [op.revert() for op in reversed(self.ops)]
