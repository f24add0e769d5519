"""The in-memory dataset: categories, images and the instances on each image.

Instances keep the annotation dict they were loaded from, so an instance nobody
edited is written back byte-for-byte in its segmentation, bbox and area. Once a
mask is set, bbox and area are derived from it and can no longer drift.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterable, Iterator

import numpy as np

from model.data import masks as M
from model.data.images import list_images, outside, read_size
from model.errors import ImageReadError

SOURCES = ("model", "human", "edited")
REVIEWS = ("unreviewed", "accepted", "rejected")
# in a file, `decided` says what provenance.review_state says of a drawn, edited or
# ground-truth instance nobody accepted or rejected (in memory: unreviewed, human/edited)
DECIDED_REVIEW = "decided"
FILE_REVIEWS = REVIEWS + (DECIDED_REVIEW,)
IMAGE_STATES = ("unreviewed", "in_progress", "done")
_NO_MASK = M.empty_mask()[0]  # shared by every instance without pixels yet (read-only, 0x0):
_NO_MASK.flags.writeable = False  # a million lazy instances allocate no array each


class Instance:
    """One object on one image: a bool mask cropped to its bbox, plus provenance.

    `offset` is the (x, y) of the crop's top-left pixel in the image. A loaded
    annotation decodes its mask only on first access, so opening a large file
    stays fast.
    """

    __slots__ = ("id", "category_id", "score", "source", "review", "model", "iscrowd",
                 "original", "_mask", "_offset", "_lazy", "_loaded_provenance", "_loose", "_hw",
                 "_box_only")

    def __init__(self, category_id: int, mask: np.ndarray | None = None,
                 offset: M.Offset = (0, 0), *, id: int | None = None,
                 score: float | None = None, source: str = "human",
                 review: str = "unreviewed", model: str | None = None,
                 iscrowd: bool = False):
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if review not in REVIEWS:
            raise ValueError(f"review must be one of {REVIEWS}, got {review!r}")
        self.id = id
        self.category_id = int(category_id)
        self.score = None if score is None else float(score)
        self.source = source
        self.review = review
        self.model = model
        self.iscrowd = bool(iscrowd)
        self.original: dict | None = None  # the loaded annotation, until the mask changes
        self._lazy: tuple[Any, int, int] | None = None
        self._hw: tuple[int, int] | None = None  # the image size a loaded segmentation has
        self._box_only = False  # loaded with a bbox and no segmentation (a detection dataset)
        self._loaded_provenance: tuple | None = None
        self._loose = False  # True only while a brush stroke is in progress
        if mask is None:
            self._mask, self._offset = _NO_MASK, (0, 0)
        else:
            self._store(mask, offset)

    @classmethod
    def from_annotation(cls, ann: dict, height: int, width: int) -> "Instance":
        """Wrap a validated COCO annotation; its mask is decoded on first use."""
        source = ann.get("source") or ("model" if ann.get("score") is not None else "human")
        review = ann.get("review") or "unreviewed"
        if review == DECIDED_REVIEW:  # a person's; for a model's prediction: kept, accepted
            review = "unreviewed" if source in ("human", "edited") else "accepted"
        inst = cls(ann["category_id"], id=ann["id"], score=ann.get("score"), source=source,
                   review=review, model=ann.get("model"), iscrowd=bool(ann.get("iscrowd", 0)))
        inst.original = ann
        seg = ann.get("segmentation")
        inst._box_only = not seg and isinstance(ann.get("bbox"), list)
        inst._lazy = (seg or [], height, width)
        inst._hw = (height, width)
        inst._loaded_provenance = inst._provenance()
        return inst

    # ------------------------------------------------------------------ mask
    def _store(self, mask: np.ndarray, offset: M.Offset) -> None:
        # Frozen private copy: nobody can change pixels behind bbox/area's back.
        crop, self._offset = M.tight_crop(mask, offset)
        if np.shares_memory(crop, mask):
            crop = crop.copy()
        crop.flags.writeable = False
        self._mask = crop

    def _decode(self) -> None:
        if self._lazy is not None:
            seg, h, w = self._lazy
            # decode_segmentation gives a fresh tight crop: frozen as it is, not copied
            crop, self._offset = M.decode_segmentation(seg, h, w)
            crop.flags.writeable = False
            self._mask = crop
            self._lazy = None

    @property
    def is_lazy(self) -> bool:
        """Not decoded yet: the mask lives only as the file's segmentation."""
        return self._lazy is not None

    @property
    def stroking(self) -> bool:
        """A brush stroke is painting this mask now (its buffer changes under the view)."""
        return self._loose

    @property
    def lazy_segmentation(self) -> tuple | None:
        """(segmentation, height, width) still to decode, or None once decoded."""
        return self._lazy

    def forget_mask(self) -> None:
        """Drop a decoded mask that still equals the file's segmentation (it is decoded
        again when needed): a streaming save or export stays small."""
        if not self.edited and self._hw is not None and not self._loose:
            self._lazy = (self.original.get("segmentation") or [], *self._hw)  # box-only: []
            self._mask, self._offset = M.empty_mask()

    @property
    def mask(self) -> np.ndarray:
        """Bool crop; treat as read-only and use set_mask to change it."""
        self._decode()
        return self._mask

    @property
    def offset(self) -> M.Offset:
        self._decode()
        return self._offset

    def set_mask(self, mask: np.ndarray, offset: M.Offset = (0, 0)) -> None:
        """Replace the mask. A model prediction changed by a person becomes `edited`."""
        self._lazy = None
        self._loose = False
        self._store(mask, offset)
        self._mark_edited()

    def set_mask_live(self, buffer: np.ndarray, offset: M.Offset) -> None:
        """Show a stroke's working buffer as this mask, uncropped and uncopied.

        The caller keeps writing into `buffer` and must finish with set_mask();
        until then bbox and area are computed from the pixels on every access.
        """
        self._lazy = None
        view = buffer.view()
        view.flags.writeable = False
        self._mask, self._offset, self._loose = view, (int(offset[0]), int(offset[1])), True
        self._mark_edited()

    def _mark_edited(self) -> None:
        self.restore_edit_state(self.state_after_edit())

    def edited_source(self) -> str:
        """The source a person's change gives: a prediction or an annotation the file
        came with becomes `edited`; an instance drawn in this session stays `human`."""
        if self.source == "model" or (self.source == "human" and self.original is not None):
            return "edited"
        return self.source

    def edit_state(self) -> tuple:
        """What an edit changes besides pixels, so undo can restore it exactly."""
        return (self.original, self.source, self._box_only)

    def state_after_edit(self) -> tuple:
        """edit_state() as it will be once a person has changed the mask."""
        original = None if self.original is None else _strip_geometry(self.original)
        return (original, self.edited_source(), False)

    def restore_edit_state(self, state: tuple) -> None:
        self.original, self.source, self._box_only = state

    @property
    def edited(self) -> bool:
        """True when the geometry no longer comes from a loaded annotation."""
        return self.original is None or ("segmentation" not in self.original
                                         and not self._box_only)

    @property
    def box_only(self) -> bool:
        """A box the file gave without a mask (a detection or Label Studio box export)."""
        return self._box_only

    @property
    def bbox(self) -> list[float]:
        if not self.edited and isinstance(self.original.get("bbox"), list):
            return list(self.original["bbox"])
        if self._loose:
            return M.bbox_of(*M.tight_crop(self._mask, self._offset))
        if self._lazy is not None:  # from the runs, without decoding the mask
            return M.segmentation_bbox(*self._lazy)
        return M.bbox_of(self.mask, self.offset)

    @property
    def area(self) -> float:
        if not self.edited and "area" in self.original:
            return self.original["area"]
        if self._box_only:
            return float(self.original["bbox"][2] * self.original["bbox"][3])
        if self._lazy is not None:  # from the runs, without decoding the mask
            return float(M.segmentation_area(*self._lazy))
        return float(np.count_nonzero(self.mask))

    def full_mask(self, height: int, width: int) -> np.ndarray:
        return M.paste(self.mask, self.offset, height, width)

    # ------------------------------------------------------------ provenance
    def _provenance(self) -> tuple:
        return (self.source, self.review, self.score, self.model)

    @property
    def provenance_changed(self) -> bool:
        return self._loaded_provenance is None or self._provenance() != self._loaded_provenance

    @property
    def is_positive(self) -> bool:
        """May this instance teach a model? Never rejected ones, never crowd regions."""
        if self.iscrowd or self.review == "rejected":
            return False
        return self.review == "accepted" or self.source in ("human", "edited")

    def copy(self) -> "Instance":
        other = Instance.__new__(Instance)
        for name in Instance.__slots__:
            setattr(other, name, getattr(self, name))
        return other

    def __repr__(self) -> str:
        return (f"Instance(id={self.id}, category_id={self.category_id}, bbox={self.bbox}, "
                f"score={self.score}, source={self.source!r}, review={self.review!r})")


def _strip_geometry(ann: dict) -> dict:
    """Keep a loaded annotation's unknown keys but drop what the new mask replaces."""
    return {k: v for k, v in ann.items() if k not in ("segmentation", "bbox", "area")}


@dataclass
class Category:
    id: int
    name: str
    supercategory: str | None = None
    extra: dict = field(default_factory=dict)  # every key as loaded, in file order
    adopted: bool = False  # brought by a model's predictions; written once a decision uses it

    def to_json(self) -> dict:
        d = dict(self.extra)
        d["id"] = self.id
        d["name"] = self.name
        if self.supercategory is not None or "supercategory" in d:
            d["supercategory"] = self.supercategory
        return d


@dataclass
class ImageRecord:
    id: int
    file_name: str  # relative to the dataset's image root, '/'-separated
    width: int | None = None
    height: int | None = None
    instances: list[Instance] = field(default_factory=list)
    status: str = "unreviewed"
    extra: dict = field(default_factory=dict)  # every key as loaded, in file order
    path_error: str | None = None  # set when file_name escapes the image root
    prediction_model: str | None = None  # model id of the cached predictions (never saved)
    attention: float | None = None  # their review priority, 0..1 (model/effort/attention.py)

    @property
    def size_known(self) -> bool:
        return self.width is not None and self.height is not None

    def learn_size(self, width: int, height: int) -> bool:
        """Take the size read from the pixels when the file did not give one; a size the
        file gave is never overwritten. Returns whether it was taken."""
        if self.size_known:
            return False
        width, height = int(width), int(height)
        if width <= 0 or height <= 0:
            raise ValueError(f"{self.file_name}: an image of {width}x{height} pixels")
        self.width, self.height = width, height
        return True


def unsafe_file_name(file_name: str) -> str | None:
    """Why a file_name may not be followed, or None when it stays inside the root."""
    if not file_name:
        return "file_name is empty"
    if PurePosixPath(file_name).is_absolute() or PureWindowsPath(file_name).is_absolute() \
            or PureWindowsPath(file_name).drive:
        return f"file_name {file_name!r} is an absolute path"
    parts = PurePosixPath(file_name.replace("\\", "/")).parts
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return f"file_name {file_name!r} points outside the image root"
    return None


class Dataset:
    """Categories, images and instances, plus everything else the file held."""

    def __init__(self, categories: Iterable[Category] = (), images: Iterable[ImageRecord] = (),
                 image_root: Path | str = ".", path: Path | str | None = None,
                 extra: dict | None = None):
        self.categories: list[Category] = list(categories)
        self.images: list[ImageRecord] = list(images)
        self.image_root = Path(image_root)
        self.path = None if path is None else Path(path)
        self.extra: dict = {} if extra is None else extra  # root keys besides the big three
        self.warnings: list[str] = []
        self.retired_category_ids: set[int] = set()  # removed in this session; never reused
        self.follow_symlinks = False  # open images through links that leave image_root
        self.key_order: list[str] = []  # root keys in file order, for a faithful rewrite
        self.source_format = "coco"  # what it was read from (model.formats.detect.NAMES)
        ids = [i.id for rec in self.images for i in rec.instances if i.id is not None]
        self._next_ann_id = max(ids, default=0) + 1
        self._next_image_id = max((r.id for r in self.images), default=0) + 1

    # ----------------------------------------------------------- construction
    @classmethod
    def from_image_paths(cls, paths: Iterable[Path], image_root: Path,
                         categories: Iterable[Category] = ()) -> "Dataset":
        """A dataset of unannotated images; sizes are read lazily, never decoded here."""
        ds = cls(categories=categories, image_root=image_root)
        for p in paths:
            ds.add_image(Path(p).relative_to(image_root).as_posix())
        return ds

    @classmethod
    def from_folder(cls, folder: Path, categories: Iterable[Category] = (),
                    follow_symlinks: bool = False) -> "Dataset":
        folder = Path(folder)
        refused: list[str] = []
        ds = cls.from_image_paths(list_images(folder, follow_symlinks, refused), folder,
                                  categories)
        ds.follow_symlinks = follow_symlinks
        ds.warnings += refused
        return ds

    def add_image(self, file_name: str, width: int | None = None,
                  height: int | None = None) -> ImageRecord:
        rec = ImageRecord(id=self._next_image_id, file_name=file_name, width=width, height=height)
        self._next_image_id += 1
        self.images.append(rec)
        return rec

    def add_instance(self, rec: ImageRecord, inst: Instance) -> Instance:
        if inst.id is None:
            inst.id = self.new_annotation_id()
        rec.instances.append(inst)
        return inst

    def new_annotation_id(self) -> int:
        """New ids continue after the highest id ever seen; a new file starts at 1."""
        i = self._next_ann_id
        self._next_ann_id += 1
        return i

    def note_annotation_id(self, ann_id: int) -> None:
        self._next_ann_id = max(self._next_ann_id, ann_id + 1)

    def continue_ids_from(self, other: "Dataset") -> None:
        """New ids continue after every id `other` has handed out too (a copy written to
        disk, a recovery snapshot): an id is never given twice."""
        self._next_ann_id = max(self._next_ann_id, other._next_ann_id)

    # ---------------------------------------------------------------- lookup
    def category(self, category_id: int) -> Category:
        for c in self.categories:
            if c.id == category_id:
                return c
        raise KeyError(f"no category with id {category_id}")

    def category_names(self) -> dict[int, str]:
        return {c.id: c.name for c in self.categories}

    def image_by_id(self, image_id: int) -> ImageRecord:
        for rec in self.images:
            if rec.id == image_id:
                return rec
        raise KeyError(f"no image with id {image_id}")

    def instances(self) -> Iterator[tuple[ImageRecord, Instance]]:
        for rec in self.images:
            for inst in rec.instances:
                yield rec, inst

    def num_instances(self) -> int:
        return sum(len(r.instances) for r in self.images)

    def image_path(self, rec: ImageRecord) -> Path:
        """Absolute path of an image; a file_name escaping the root is never followed,
        nor a symbolic link out of it, unless follow_symlinks."""
        if rec.path_error:
            raise ImageReadError(rec.file_name, rec.path_error)
        reason = unsafe_file_name(rec.file_name)
        if reason:
            raise ImageReadError(rec.file_name, reason)
        path = self.image_root / PurePosixPath(rec.file_name.replace("\\", "/"))
        # a link anywhere on the way (a linked folder too) may lead out of the root
        if not self.follow_symlinks and outside(path, self.image_root):
            raise ImageReadError(path, "a symbolic link (or a linked folder) to a file outside "
                                       "the image folder; not opened (--follow-symlinks opens it)")
        return path

    def ensure_size(self, rec: ImageRecord) -> None:
        """Fill a record's width/height from the file header (cheap: no decode)."""
        if not rec.size_known:
            rec.width, rec.height = read_size(self.image_path(rec))
