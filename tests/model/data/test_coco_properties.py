"""Property tests of the COCO store (hypothesis): any JSON document either loads or is
refused with the loader's own error, never anything else; whatever loads decodes
and saves; and saving then loading is the identity."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.data import masks as M
from model.data.coco import dataset_from_json, dataset_json, load_dataset, save_dataset
from model.errors import CocoFormatError

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 20, 10 ** 20),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
json_any = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)


@st.composite
def masks(draw, h, w):
    bits = draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))
    return np.array(bits, bool).reshape(h, w)


@st.composite
def segmentations(draw, h, w):
    kind = draw(st.sampled_from(["polygon", "rle", "rle-list", "empty-polygon"]))
    if kind == "polygon":
        n = draw(st.integers(3, 6))
        xs = draw(st.lists(st.floats(-2, w + 2), min_size=n, max_size=n))
        ys = draw(st.lists(st.floats(-2, h + 2), min_size=n, max_size=n))
        return [[round(c, 2) for xy in zip(xs, ys) for c in xy]]
    if kind == "empty-polygon":
        return []
    m = draw(masks(h, w))
    rle = M.encode_rle(*M.tight_crop(m), h, w)
    if kind == "rle-list":
        return {"size": [h, w], "counts": M.rle_counts_from_crop(*M.tight_crop(m), h, w)}
    return rle


@st.composite
def coco_docs(draw):
    n_img = draw(st.integers(1, 3))
    images, anns = [], []
    for i in range(n_img):
        h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        images.append({"id": i + 1, "file_name": f"{i}.png", "width": w, "height": h})
    cats = [{"id": c, "name": f"c{c}"} for c in range(draw(st.integers(1, 3)))]
    for a in range(draw(st.integers(0, 6))):
        img = draw(st.sampled_from(images))
        ann = {"id": a + 1, "image_id": img["id"],
               "category_id": draw(st.sampled_from(cats))["id"],
               "segmentation": draw(segmentations(img["height"], img["width"])),
               "iscrowd": draw(st.sampled_from([0, 1]))}
        if draw(st.booleans()):
            ann["bbox"] = [0.0, 0.0, 1.0, 1.0]
            ann["area"] = 1.0
        if draw(st.booleans()):
            ann.update(score=draw(st.floats(0, 1)), source="model", review="unreviewed")
        if draw(st.booleans()):
            ann["extra_key"] = draw(json_leaf.filter(lambda v: not (isinstance(v, float)
                                                                   and not math.isfinite(v))))
        anns.append(ann)
    return {"info": {"description": "prop"}, "images": images, "annotations": anns,
            "categories": cats}


@st.composite
def mutated_docs(draw):
    """A valid document with one value somewhere replaced by anything."""
    doc = draw(coco_docs())
    node, path = doc, []
    while isinstance(node, (dict, list)) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node.keys()) if isinstance(node, dict)
                                   else list(range(len(node)))))
        path.append((node, key))
        node = node[key]
    if path:
        parent, key = path[-1]
        parent[key] = draw(json_any)
    return doc


def load_or_refuse(doc):
    """The property: a Dataset, or CocoFormatError; anything else propagates and fails."""
    try:
        return dataset_from_json(doc)
    except CocoFormatError:
        return None


@SETTINGS
@given(json_any)
def test_any_json_value_loads_or_is_refused(doc):
    load_or_refuse(doc)


@SETTINGS
@given(mutated_docs())
def test_any_damaged_document_loads_or_is_refused_and_what_loads_decodes(doc):
    ds = load_or_refuse(doc)
    if ds is None:
        return
    for rec in ds.images:
        for inst in rec.instances:
            assert inst.mask.ndim == 2
            x, y = inst.offset
            assert 0 <= x and 0 <= y and x + inst.mask.shape[1] <= rec.width \
                and y + inst.mask.shape[0] <= rec.height


@SETTINGS
@given(coco_docs())
def test_save_then_load_is_the_identity(tmp_path_factory, doc):
    ds = dataset_from_json(copy.deepcopy(doc))
    first = json.dumps(dataset_json(ds)[0])
    masks_before = [(i.offset, i.mask.copy()) for r in ds.images for i in r.instances]
    path = tmp_path_factory.mktemp("p") / "c.json"
    save_dataset(ds, path)
    back = load_dataset(path)
    assert json.dumps(dataset_json(back)[0]) == first
    masks_after = [(i.offset, i.mask) for r in back.images for i in r.instances]
    assert len(masks_before) == len(masks_after)
    for (oa, ma), (ob, mb) in zip(masks_before, masks_after):
        assert oa == ob and np.array_equal(ma, mb)
