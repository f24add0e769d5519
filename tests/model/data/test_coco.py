import json
import os

import numpy as np
import pytest
from pycocotools.coco import COCO

from model.data import masks as M
from model.data.annotations import Category, Dataset, Instance
from model.data.coco import load_dataset, save_dataset
from model.errors import ImageReadError
from tests.helpers import disc, make_coco, ring, two_parts, write_image


def masks_of(ds):
    return {inst.id: (inst.offset, inst.mask.copy()) for _, inst in ds.instances()}


def assert_same_masks(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k][0] == b[k][0], k
        assert np.array_equal(a[k][1], b[k][1]), k


def test_untouched_file_round_trips_exactly(tmp_path):
    src = make_coco(tmp_path)
    ds = load_dataset(src)
    out = tmp_path / "out.json"
    report = save_dataset(ds, out)
    assert report.unchanged == 5
    assert json.loads(out.read_text()) == json.loads(src.read_text())
    assert list(json.loads(out.read_text())) == list(json.loads(src.read_text()))  # key order


def test_rle_round_trip_pixel_exact_with_holes_parts_crowd(tmp_path):
    ds = load_dataset(make_coco(tmp_path))
    before = masks_of(ds)
    hole = next(i for _, i in ds.instances() if i.id == 4)
    assert M.has_hole(hole.mask)  # the hole really is there after load
    for fmt in ("rle", "polygon"):
        out = tmp_path / f"{fmt}.json"
        save_dataset(ds, out, fmt, convert_all=(fmt == "rle"))
        assert_same_masks(before, masks_of(load_dataset(out, tmp_path)))
    crowd = [a for a in json.loads((tmp_path / "rle.json").read_text())["annotations"]
             if a["iscrowd"]]
    assert len(crowd) == 1 and isinstance(crowd[0]["segmentation"]["counts"], str)


def test_ids_categories_and_extras_kept(tmp_path):
    ds = load_dataset(make_coco(tmp_path))
    out = tmp_path / "o.json"
    ds.images[0].instances[0].set_mask(disc(64, 80, 20, 20, 5))  # force a rewrite
    save_dataset(ds, out)
    data = json.loads(out.read_text())
    assert [c["id"] for c in data["categories"]] == [0, 3, 7]
    assert data["categories"][0]["color"] == "#ff0000"
    assert data["categories"][2] == {"id": 7, "name": "crowd", "keypoints": []}
    assert data["custom_root"] == {"k": [1, 2, 3]} and data["info"]["year"] == 2026
    assert data["images"][0]["flickr_url"] == "x" and data["images"][0]["id"] == 0
    assert [a["id"] for a in data["annotations"]] == [4, 9, 10, 22, 23]
    assert data["annotations"][0]["attributes"] == {"occluded": True}


def test_edited_instance_gets_derived_bbox_area_and_provenance(tmp_path):
    ds = load_dataset(make_coco(tmp_path))
    inst = ds.images[1].instances[0]  # the model-made one
    assert inst.source == "model" and inst.score == 0.75
    new = disc(64, 80, 40, 30, 6)
    inst.set_mask(new)
    assert inst.source == "edited"
    assert inst.bbox == [34.0, 24.0, 13.0, 13.0] and inst.area == float(new.sum())
    with pytest.raises(ValueError):
        inst.mask[0, 0] = False  # masks are frozen: bbox/area can never drift
    out = tmp_path / "o.json"
    save_dataset(ds, out)
    ann = next(a for a in json.loads(out.read_text())["annotations"] if a["id"] == 22)
    assert ann["source"] == "edited" and ann["review"] == "accepted" and ann["model"] == "m1"
    assert ann["bbox"] == [34.0, 24.0, 13.0, 13.0] and ann["area"] == float(new.sum())
    assert isinstance(ann["segmentation"]["counts"], str)


def test_new_ids_continue_after_max_and_start_at_one(tmp_path):
    ds = load_dataset(make_coco(tmp_path))
    rec = ds.images[0]
    a = ds.add_instance(rec, Instance(3, disc(64, 80, 10, 10, 4)))
    b = Instance(3, disc(64, 80, 50, 10, 4))
    rec.instances.append(b)  # no id yet: the save assigns one
    save_dataset(ds, tmp_path / "o.json")
    assert a.id == 24 and b.id == 25
    fresh = Dataset([Category(1, "x")], image_root=tmp_path / "imgs")
    r = fresh.add_image("a.png", 80, 64)
    fresh.add_instance(r, Instance(1, disc(64, 80, 10, 10, 4)))
    save_dataset(fresh, tmp_path / "new.json")
    data = json.loads((tmp_path / "new.json").read_text())
    assert data["annotations"][0]["id"] == 1 and data["images"][0]["id"] == 1
    assert "info" in data and data["categories"] == [{"id": 1, "name": "x"}]


def test_file_without_info_gains_it_and_keeps_the_rest(tmp_path):
    """pycocotools 2.0.10's loadRes needs 'info'; nothing else of the file changes."""
    src = make_coco(tmp_path)
    data = json.loads(src.read_text())
    del data["info"]
    src.write_text(json.dumps(data))
    save_dataset(load_dataset(src), tmp_path / "o.json")
    out = json.loads((tmp_path / "o.json").read_text())
    assert out.pop("info")["description"] == "MaskLoop annotations"
    assert out == data and list(out) == list(data)
    from model.metrics.evaluate import gt_coco
    assert "info" in gt_coco(load_dataset(src)).dataset


def test_polygon_mode_keeps_holes_as_rle_never_fills(tmp_path):
    h, w = 64, 80
    write_image(tmp_path / "a.png", h, w)
    ds = Dataset([Category(1, "o")], image_root=tmp_path)
    rec = ds.add_image("a.png", w, h)
    with_hole = ring(h, w, 30, 30, 20, 8)
    plain = disc(h, w, 60, 50, 8)
    ds.add_instance(rec, Instance(1, with_hole))
    ds.add_instance(rec, Instance(1, plain))
    report = save_dataset(ds, tmp_path / "p.json", "polygon")
    assert report.kept_rle_hole == 1 and report.polygon == 1
    anns = json.loads((tmp_path / "p.json").read_text())["annotations"]
    assert isinstance(anns[0]["segmentation"], dict) and isinstance(anns[1]["segmentation"], list)
    back = load_dataset(tmp_path / "p.json")
    assert np.array_equal(back.images[0].instances[0].full_mask(h, w), with_hole)


def test_multi_part_and_pycocotools_load(tmp_path):
    h, w = 64, 80
    write_image(tmp_path / "a.png", h, w)
    ds = Dataset([Category(1, "o")], image_root=tmp_path)
    rec = ds.add_image("a.png", w, h)
    parts = two_parts(h, w)
    ds.add_instance(rec, Instance(1, parts, score=0.9, source="model", model="m"))
    save_dataset(ds, tmp_path / "o.json")
    coco = COCO(str(tmp_path / "o.json"))
    ann = coco.loadAnns(coco.getAnnIds())[0]
    assert np.array_equal(coco.annToMask(ann).astype(bool), parts)
    assert ann["score"] == 0.9 and ann["source"] == "model" and ann["review"] == "unreviewed"


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    ds = load_dataset(make_coco(tmp_path))
    out = tmp_path / "o.json"
    save_dataset(ds, out)
    before = out.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        save_dataset(ds, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coco.json", "imgs", "o.json"]


def test_escaping_file_names_are_reported_not_followed(tmp_path):
    src = make_coco(tmp_path)
    data = json.loads(src.read_text())
    data["images"][0]["file_name"] = "../../etc/passwd"
    data["images"][1]["file_name"] = "/etc/hosts"
    src.write_text(json.dumps(data))
    ds = load_dataset(src)
    assert len(ds.warnings) == 2 and "outside the image root" in ds.warnings[0]
    assert "absolute" in ds.warnings[1]
    for rec in ds.images:
        with pytest.raises(ImageReadError):
            ds.image_path(rec)
    save_dataset(ds, tmp_path / "o.json")  # kept as given, never rewritten
    assert json.loads((tmp_path / "o.json").read_text())["images"][0]["file_name"] == "../../etc/passwd"


def test_folder_dataset_names_are_relative_and_sizes_lazy(tmp_path):
    (tmp_path / "sub").mkdir()
    write_image(tmp_path / "sub" / "x.png", 30, 40)
    write_image(tmp_path / "y.jpg", 20, 10)
    ds = Dataset.from_folder(tmp_path)
    assert [r.file_name for r in ds.images] == ["sub/x.png", "y.jpg"]
    assert not ds.images[0].size_known  # nothing decoded at open
    save_dataset(ds, tmp_path / "annotations.json")
    data = json.loads((tmp_path / "annotations.json").read_text())
    assert [(i["width"], i["height"]) for i in data["images"]] == [(40, 30), (10, 20)]


def test_lazy_decode(tmp_path):
    ds = load_dataset(make_coco(tmp_path))
    inst = ds.images[0].instances[0]
    assert inst.lazy_segmentation is not None  # nothing decoded by loading
    assert inst.bbox == [10.0, 10.0, 41.0, 41.0]  # unedited: the file's own bbox
    _ = inst.mask
    assert inst.lazy_segmentation is None


def test_torchvision_coco_dataset_reads_our_masks(tmp_path):
    from torchvision.datasets import CocoDetection, wrap_dataset_for_transforms_v2
    h, w = 64, 80
    write_image(tmp_path / "a.png", h, w)
    ds = Dataset([Category(1, "o")], image_root=tmp_path)
    rec = ds.add_image("a.png", w, h)
    shapes = [ring(h, w, 30, 30, 20, 8), two_parts(h, w)]
    for m in shapes:
        ds.add_instance(rec, Instance(1, m))
    save_dataset(ds, tmp_path / "o.json")
    tv = wrap_dataset_for_transforms_v2(CocoDetection(str(tmp_path), str(tmp_path / "o.json")),
                                        target_keys=["masks", "boxes", "labels"])
    _, target = tv[0]
    got = target["masks"].numpy().astype(bool)
    assert len(got) == 2 and all(np.array_equal(g, m) for g, m in zip(got, shapes))
