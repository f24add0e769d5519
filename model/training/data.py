"""What a fine-tune learns from: reviewed images, their positive instances, and the
contiguous label table. Builds torchvision targets (boxes xyxy float32, labels
int64 1..K, masks uint8 NxHxW); an image without instances is a valid negative.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import Sampler

from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.data.images import read_image, read_size
from model.errors import ImageReadError, TrainingDataError
from model.editing.review import training_set


def positives(rec: ImageRecord) -> list[Instance]:
    """Accepted, edited or hand-made; never rejected, never crowd."""
    return [i for i in rec.instances if i.is_positive]


@dataclass
class LabelTable:
    """Dataset category ids <-> contiguous model labels 1..K (0 is background)."""
    categories: list[Category]

    @classmethod
    def from_dataset(cls, ds: Dataset) -> "LabelTable":
        return cls(list(ds.categories))

    @property
    def num_classes(self) -> int:
        return len(self.categories) + 1

    def label(self, category_id: int) -> int:
        for k, c in enumerate(self.categories, start=1):
            if c.id == category_id:
                return k
        raise TrainingDataError(f"category id {category_id} is not in the dataset's categories")

    def to_json(self) -> list[dict]:
        return [{"id": c.id, "name": c.name, "supercategory": c.supercategory}
                for c in self.categories]

    def same_as(self, label_categories: list[Category | None]) -> bool:
        """Do a model's labels 1..K mean exactly these categories?"""
        theirs = [(c.id, c.name) if c is not None else None for c in label_categories[1:]]
        return theirs == [(c.id, c.name) for c in self.categories]


@dataclass
class Sample:
    rec: ImageRecord
    path: Path
    instances: list[Instance]


def select_samples(ds: Dataset, all_images: bool = False, include_corrected: bool = False
                   ) -> tuple[list[Sample], list[str]]:
    """Training samples and warnings, by the one rule of model/editing/review.py (done images
    and images whose every instance is decided). Raises TrainingDataError on
    unusable input."""
    warnings = []
    if all_images:
        recs = list(ds.images)
    else:
        ids = set(training_set(ds.images, include_corrected).image_ids)
        recs = [r for r in ds.images if r.id in ids]
    if not recs:
        raise TrainingDataError(
            "no reviewed images: mark images done (M), or decide every instance of an image "
            "(accept, reject, edit or draw), or pass --all-images to train on every image of "
            "a ground-truth file")
    if not ds.categories:
        raise TrainingDataError("the dataset has no categories")
    samples, missing, unreadable = [], [], []
    for rec in recs:
        try:
            path = ds.image_path(rec)
        except Exception as e:  # an escaping file_name
            missing.append(str(e))
            continue
        if not path.is_file():
            missing.append(f"{path} (image id {rec.id})")
            continue
        try:
            read_size(path)  # the header only: a corrupt file is named before training
        except ImageReadError as e:
            unreadable.append(str(e))
            continue
        keep = []
        for inst in positives(rec):
            if inst.mask.size == 0 or inst.mask.shape[0] < 1 or inst.mask.shape[1] < 1:
                warnings.append(f"image {rec.file_name}: annotation {inst.id} has an empty mask; "
                                "skipped")
                continue
            keep.append(inst)
        samples.append(Sample(rec, path, keep))
    if missing:
        shown = "\n  ".join(missing[:10])
        raise TrainingDataError(f"{len(missing)} training image(s) are missing:\n  {shown}")
    if unreadable and not samples:
        raise TrainingDataError("every training image is unreadable:\n  "
                                + "\n  ".join(unreadable[:10]))
    warnings += [f"skipped, unreadable: {u}" for u in unreadable]
    return samples, warnings


def split_train_val(samples: list[Sample], val_fraction: float, seed: int = 0
                    ) -> tuple[list[Sample], list[Sample]]:
    """Hold out a slice for validation: val_fraction of them, at least 1 from 5 images."""
    if val_fraction <= 0 or len(samples) < 2:
        return samples, []
    n_val = int(round(len(samples) * val_fraction))
    if len(samples) >= 5:
        n_val = max(n_val, 1)
    n_val = min(n_val, len(samples) - 1)
    if n_val == 0:
        return samples, []
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    val_idx = set(order[:n_val])
    return ([s for k, s in enumerate(samples) if k not in val_idx],
            [s for k, s in enumerate(samples) if k in val_idx])


class TrainSet(TorchDataset):
    """Decodes an image and builds its target; runs in DataLoader workers.

    Items are (image float CHW in [0, 1], target, image id). Masks are pasted from
    their crops straight into the uint8 stack the model needs.

    `fit` (shorter, longer): the largest size the model's transform can draw an image at
    (the largest min_size drawn, and max_size). A larger image is shrunk to it here, its
    masks with it (nearest neighbour, from the crops): the transform then resizes a small
    image instead of a full one. On 1-2 MP photos trained at 384-640 px the transform
    took 245 ms a batch of 2 in the main process, and the float image and full-size mask
    stack were 6x the pixels the model sees (bench/profile_train.py). The image is
    shrunk bilinearly, as torchvision's transform resizes (and the Predictor's images
    are): the model sees what it saw before, up to a pixel of rounding.
    """

    def __init__(self, samples: list[Sample], labels: LabelTable, hflip: float = 0.5,
                 fit: tuple[int, int] | None = None):
        self.items = [(s.path, s.rec.id, [(labels.label(i.category_id), np.ascontiguousarray(i.mask),
                                           i.offset) for i in s.instances]) for s in samples]
        self.sizes = [(s.rec.height, s.rec.width) for s in samples]
        self.hflip = hflip
        self.fit = fit

    def __len__(self) -> int:
        return len(self.items)

    def aspect_groups(self) -> list[int]:
        """0 for landscape, 1 for portrait (None-sized images count as landscape)."""
        return [int((h or 1) > (w or 1)) for h, w in self.sizes]

    def shrunk(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) an image of h x w is given to the model at (<= h x w)."""
        if self.fit is None:
            return h, w
        short, long = self.fit
        s = min(short / min(h, w), long / max(h, w))
        if s >= 1:
            return h, w
        return max(1, round(h * s)), max(1, round(w * s))

    def __getitem__(self, key: int | tuple[int, bool]):
        """key: (index, flip) from EpochSampler, which draws the flips of a training run
        (so a resumed run replays them, with or without loader workers); a bare index
        draws its flip from torch's generator."""
        if isinstance(key, tuple):
            index, flip = key
        else:
            index, flip = key, bool(self.hflip) and float(torch.rand(())) < self.hflip
        path, image_id, insts = self.items[index]
        try:
            rgb = read_image(path)
        except ImageReadError as e:  # its header was fine; its pixels are not
            return None, {"image_id": image_id, "error": str(e)}
        h0, w0 = rgb.shape[:2]
        h, w = self.shrunk(h0, w0)
        # nearest neighbour as torch's: output pixel r reads input pixel r * h0 // h
        src_r = src_c = None
        if (h, w) != (h0, w0):
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
            src_r, src_c = np.arange(h) * h0 // h, np.arange(w) * w0 // w
        if flip:
            rgb = rgb[:, ::-1]
        # each crop is cut to the image, shrunk and flipped on its own, and its box comes
        # from the crop: the stack is allocated once, for the instances kept, and filled once
        kept = []
        for label, crop, (x, y) in insts:
            ch, cw = crop.shape
            x0, y0 = max(x, 0), max(y, 0)
            x1, y1 = min(x + cw, w0), min(y + ch, h0)
            if x1 <= x0 or y1 <= y0:
                continue
            if src_r is None:
                part = crop[y0 - y:y1 - y, x0 - x:x1 - x]
            else:
                rows = np.flatnonzero((src_r >= y0) & (src_r < y1))
                cols = np.flatnonzero((src_c >= x0) & (src_c < x1))
                if not rows.size or not cols.size:
                    continue
                part = crop[np.ix_(src_r[rows] - y, src_c[cols] - x)]
                x0, y0 = int(cols[0]), int(rows[0])
            if flip:
                part, x0 = part[:, ::-1], w - (x0 + part.shape[1])
            rows, cols = np.flatnonzero(part.any(axis=1)), np.flatnonzero(part.any(axis=0))
            if rows.size:
                kept.append((label, part, x0, y0, (x0 + cols[0], y0 + rows[0],
                                                   x0 + cols[-1] + 1, y0 + rows[-1] + 1)))
        masks = np.zeros((len(kept), h, w), np.uint8)
        for k, (_label, part, x0, y0, _box) in enumerate(kept):
            masks[k, y0:y0 + part.shape[0], x0:x0 + part.shape[1]] = part
        # numpy, one thread: with no loader workers (a 2-core machine) this runs in the main
        # process, where torch's intra-op threads made the same two passes 7x slower under load
        chw = rgb.transpose(2, 0, 1).astype(np.float32, order="C")
        chw /= np.float32(255)  # as torch's div_: the same float32 values
        image = torch.from_numpy(chw)
        target = {"boxes": torch.tensor([b for *_x, b in kept], dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.tensor([lab for lab, *_x in kept], dtype=torch.int64),
                  "masks": torch.from_numpy(masks),
                  "image_id": image_id}
        return image, target


def collate(batch):
    """(images, targets, errors): a sample whose pixels could not be read is left out
    of the batch and reported, so one bad file costs a warning, not the run."""
    good = [(im, t) for im, t in batch if im is not None]
    errors = [t["error"] for im, t in batch if im is None]
    images, targets = (tuple(zip(*good)) if good else ((), ()))
    return images, targets, errors


class EpochSampler(Sampler):
    """Each epoch's order and horizontal flips, drawn from (seed, epoch) alone, as
    DistributedSampler draws its order: to replay an epoch a resumed run needs only the
    epoch and its position in it, and the flips are the same with or without loader
    workers. Yields (index, flip). With world > 1 the order is padded to a multiple of
    world by repeating its start, and rank r takes every world-th item from r (each image
    on one rank per epoch, as DistributedSampler shards). `min_len`: a set shorter than this
    is gone through again, in a new order, within the epoch (a continuous run's epoch lasts
    at least its evaluation interval, whatever the images so far)."""

    def __init__(self, n: int, seed: int, hflip: float = 0.5, rank: int = 0, world: int = 1,
                 min_len: int = 0):
        self.n, self.seed, self.hflip, self.rank, self.world = n, seed, hflip, rank, world
        self.min_len = min_len
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % (1 << 63))
        pairs: list[tuple[int, bool]] = []
        while not pairs or len(pairs) < self.min_len:
            order = torch.randperm(self.n, generator=g).tolist()
            flips = (torch.rand(self.n, generator=g) < self.hflip).tolist()
            pairs += [(i, flips[i]) for i in order]
            if not order:
                break
        pairs = pairs[:self.length]
        total = len(self) * self.world
        if pairs and total > len(pairs):
            pairs += (pairs * math.ceil(total / len(pairs)))[:total - len(pairs)]
        yield from pairs[self.rank:total:self.world]

    @property
    def length(self) -> int:
        return max(self.n, self.min_len) if self.n else 0

    def __len__(self) -> int:
        return math.ceil(self.length / self.world)


class ResumableBatches(Sampler):
    """A batch sampler whose next pass starts `skip` batches in: a resumed epoch goes on
    where it stopped, without reading the images of the batches already trained on."""

    def __init__(self, batches: Sampler):
        self.batches, self.skip = batches, 0

    def __iter__(self):
        skip, self.skip = self.skip, 0
        for k, batch in enumerate(self.batches):
            if k >= skip:
                yield batch

    def __len__(self) -> int:
        return len(self.batches)


class GroupedBatchSampler(Sampler):
    """Batches whose images share an orientation (less padding when batch > 1). Items are
    indices, or (index, flip) pairs from EpochSampler."""

    def __init__(self, sampler: Sampler, groups: list[int], batch_size: int):
        self.sampler, self.groups, self.batch_size = sampler, groups, batch_size

    def __iter__(self):
        buckets: dict[int, list] = {}
        for item in self.sampler:
            idx = item[0] if isinstance(item, tuple) else item
            b = buckets.setdefault(self.groups[idx], [])
            b.append(item)
            if len(b) == self.batch_size:
                yield list(b)
                b.clear()
        rest = [i for b in buckets.values() for i in b]
        for k in range(0, len(rest), self.batch_size):
            yield rest[k:k + self.batch_size]

    def __len__(self) -> int:
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size


def class_counts(samples: list[Sample], ds: Dataset) -> dict[str, int]:
    names = ds.category_names()
    out: dict[str, int] = {c.name: 0 for c in ds.categories}
    for s in samples:
        for inst in s.instances:
            out[names.get(inst.category_id, str(inst.category_id))] += 1
    return out
