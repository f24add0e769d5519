"""Images larger than the model's input are shrunk in the loader (TrainSet's `fit`), their
masks with them, exactly as nearest-neighbour resampling of the full masks would."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from model.data.annotations import Category, Dataset, Instance
from model.training.config import TrainConfig
from model.training.data import LabelTable, Sample, TrainSet
from model.training.distributed import Dist
from model.training.prepare import make_feed, train_sizes
from tests.helpers import ring, two_parts, write_image


def _sample(tmp_path, h: int, w: int):
    write_image(tmp_path / "a.png", h, w)
    ds = Dataset([Category(3, "x"), Category(8, "y")], image_root=tmp_path)
    rec = ds.add_image("a.png", w, h)
    edge = np.zeros((12, 12), bool)
    edge[2:10, 1:11] = True
    dot = np.zeros((h, w), bool)
    dot[3, 3] = True  # one pixel: no output pixel reads it at this scale, so it is dropped
    insts = [Instance(3, ring(h, w, 30, 20, 14, 6)), Instance(8, two_parts(h, w)),
             Instance(3, edge, (w - 6, h - 5)), Instance(8, dot)]
    for i in insts:
        ds.add_instance(rec, i)
    return Sample(rec, tmp_path / "a.png", insts), LabelTable.from_dataset(ds)


@pytest.mark.parametrize("flip", [False, True])
def test_a_large_image_and_its_masks_are_shrunk_to_fit(tmp_path, flip):
    h, w = 60, 90
    sample, labels = _sample(tmp_path, h, w)
    image, target = TrainSet([sample], labels, hflip=0.0, fit=(25, 40))[(0, flip)]
    nh, nw = 25, 38  # 25/60 < 40/90: the shorter side decides, 90 * 25/60 = 37.5 -> 38
    assert tuple(image.shape) == (3, nh, nw)
    rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "a.png")), cv2.COLOR_BGR2RGB)
    want = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    want = want[:, ::-1] if flip else want
    assert np.allclose(image.permute(1, 2, 0).numpy() * 255, want, atol=0.01)
    full = np.zeros((len(sample.instances), h, w), np.uint8)
    for k, i in enumerate(sample.instances):
        m = np.zeros((h + 20, w + 20), np.uint8)
        m[i.offset[1]:i.offset[1] + i.mask.shape[0], i.offset[0]:i.offset[0] + i.mask.shape[1]] \
            = i.mask
        full[k] = m[:h, :w]
    rows, cols = np.arange(nh) * h // nh, np.arange(nw) * w // nw
    small = full[:, rows][:, :, cols]
    small = small[:, :, ::-1] if flip else small
    assert small[3].sum() == 0
    small = small[:3]  # the dot vanished: never a box without a mask
    assert np.array_equal(target["masks"].numpy(), small)
    # torch's own nearest resize of the full masks gives the same pixels
    torch_small = torch.nn.functional.interpolate(
        torch.from_numpy(full[:3])[None].float(), size=(nh, nw), mode="nearest")[0].byte()
    if flip:
        torch_small = torch_small.flip(-1)
    assert torch.equal(target["masks"], torch_small)
    for k, m in enumerate(small):
        ys, xs = np.nonzero(m)
        assert target["boxes"][k].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert target["labels"].tolist() == [1, 2, 1]


def test_an_image_within_fit_is_left_at_its_size(tmp_path):
    sample, labels = _sample(tmp_path, 40, 56)
    image, target = TrainSet([sample], labels, hflip=0.0, fit=(40, 100))[(0, False)]
    assert tuple(image.shape) == (3, 40, 56) and tuple(target["masks"].shape) == (4, 40, 56)


def test_the_feed_shrinks_to_the_largest_size_the_transform_draws(tmp_path):
    sample, labels = _sample(tmp_path, 60, 90)
    cfg = TrainConfig(coco=tmp_path / "x.json", out=tmp_path / "m.pt", min_size=32,
                      max_size=64, scale_jitter=0.25, workers=0)
    feed = make_feed(cfg, [sample], labels, Dist(), torch.device("cpu"))
    assert feed.loader.dataset.fit == (max(train_sizes(cfg)), 64) == (40, 64)
