import numpy as np
import pytest
from pycocotools import mask as mask_utils

from model.data import masks as M
from tests.helpers import disc, ring, two_parts


def _random_masks():
    rng = np.random.default_rng(0)
    h, w = 37, 53
    yield np.zeros((h, w), bool)
    yield np.ones((h, w), bool)
    m = np.zeros((h, w), bool); m[0, 0] = True; yield m
    m = np.zeros((h, w), bool); m[-1, -1] = True; yield m
    m = np.zeros((h, w), bool); m[:, 7] = True; yield m
    m = np.zeros((h, w), bool); m[3, :] = True; yield m
    yield ring(h, w, 20, 18, 15, 5)
    yield two_parts(h, w)
    for _ in range(20):
        yield rng.random((h, w)) < rng.random()


@pytest.mark.parametrize("k", range(27))
def test_rle_from_crop_equals_pycocotools(k):
    mask = list(_random_masks())[k]
    h, w = mask.shape
    crop, off = M.tight_crop(mask)
    ours = M.encode_rle(crop, off, h, w)
    ref = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert ours["counts"] == ref["counts"].decode("ascii")
    assert ours["size"] == [h, w]
    back, back_off = M.decode_segmentation(ours, h, w)
    assert np.array_equal(M.paste(back, back_off, h, w), mask)


def test_tight_crop_and_bbox():
    m = np.zeros((10, 12), bool)
    m[2:5, 3:9] = True
    crop, off = M.tight_crop(m)
    assert crop.shape == (3, 6) and off == (3, 2)
    assert M.bbox_of(crop, off) == [3.0, 2.0, 6.0, 3.0]
    empty, eoff = M.tight_crop(np.zeros((4, 4), bool))
    assert empty.shape == (0, 0) and M.bbox_of(empty, eoff) == [0.0, 0.0, 0.0, 0.0]


def test_crop_partly_outside_image_is_clipped():
    crop = np.ones((4, 4), bool)
    counts = M.rle_counts_from_crop(crop, (-2, 8), 10, 10)  # rows 8..11, cols -2..1
    full = mask_utils.decode(mask_utils.frPyObjects({"size": [10, 10], "counts": counts}, 10, 10))
    expected = np.zeros((10, 10), np.uint8)
    expected[8:10, 0:2] = 1
    assert np.array_equal(full, expected)


def test_hole_detection():
    assert M.has_hole(ring(40, 40, 20, 20, 15, 5))
    assert not M.has_hole(disc(40, 40, 20, 20, 15))
    assert not M.has_hole(two_parts(50, 60))
