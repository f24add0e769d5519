"""labelme JSON: a hand-written file in labelme's documented format reads as it should;
COCO-style data -> labelme -> back keeps every instance (crowd too); bad numbers and
types raise FormatError naming the file, or skip that file in a folder."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from model.data.coco import load_dataset, save_dataset
from model.formats.labelme import is_labelme, read_labelme, write_labelme
from model.errors import FormatError
from model.editing.review import mask_iou
from tests.model.formats.peer_rules import labelme_shape_mask
from tests.model.formats.test_polygon_formats import (UNICODE_CLASS, matched, grey_png,
                                               synthetic_dataset)

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "formats" / "labelme" / "scene.json"



@pytest.fixture
def scene(tmp_path) -> Path:
    shutil.copy(FIXTURE, tmp_path / "scene.json")
    grey_png(tmp_path / "scene.png", 60, 80)
    return tmp_path / "scene.json"


def by_name(ds):
    names = ds.category_names()
    return [(names[i.category_id], i) for i in ds.images[0].instances]


def test_a_hand_written_labelme_file_reads_every_shape_kind(scene):
    assert is_labelme(json.loads(scene.read_text()))
    ds = read_labelme(scene)
    assert [c.name for c in ds.categories] == ["leaf", "box", "disc", "blob"]  # no __ignore__
    assert [c.id for c in ds.categories] == [1, 2, 3, 4]
    rec = ds.images[0]
    assert (rec.file_name, rec.width, rec.height) == ("scene.png", 80, 60)
    assert ds.image_path(rec) == scene.parent / "scene.png"
    got = by_name(ds)
    assert [n for n, _ in got] == ["leaf", "box", "disc", "leaf", "box", "leaf", "blob"]
    leaf, rect, circle, pair, other_box, ignore, blob = (i for _, i in got)
    # labelme's rule: a vertex is a pixel, the outline drawn in (x 40..60 is 21 pixels)
    assert rect.area == 231 and rect.bbox == [40.0, 5.0, 21.0, 11.0]
    assert circle.area == pytest.approx(math.pi * 8.5 ** 2, rel=0.06)
    assert pair.area == 98 and pair.bbox == [2.0, 2.0, 17.0, 7.0]  # one group: the union
    assert other_box.area == 36  # same group_id, another label: its own instance
    shapes = json.loads(scene.read_text())["shapes"]
    for inst, k in ((leaf, 0), (rect, 1), (circle, 2), (other_box, 5)):
        assert np.array_equal(inst.full_mask(60, 80), labelme_shape_mask(shapes[k], 60, 80))
    assert np.array_equal(pair.full_mask(60, 80), labelme_shape_mask(shapes[3], 60, 80)
                          | labelme_shape_mask(shapes[4], 60, 80))
    assert ignore.iscrowd and not any(i.iscrowd for i in (leaf, rect, pair, blob))
    assert any("1 __ignore__ region(s) name no class" in w for w in ds.warnings)
    assert blob.area == 20 and blob.offset == (51, 21) and not blob.mask[2, 3]  # the PNG
    assert rec.extra["labelme_flags"] == {"reviewed": True, "blurry": False}
    assert leaf.original["labelme_flags"] == {"occluded": True}
    assert leaf.original["labelme_description"] == "partly hidden"
    assert not {"labelme_flags", "labelme_description"} & set(rect.original)
    skipped = [w for w in ds.warnings if "skipped" in w]
    assert len(skipped) == 2 and all(str(scene) in w for w in skipped)
    assert any("'edge'" in w and "line" in w for w in skipped)
    assert any("'tip'" in w and "point" in w for w in skipped)


def test_shape_flags_and_description_survive_coco_and_back(scene, tmp_path):
    ds = read_labelme(scene)
    coco = tmp_path / "c.json"
    save_dataset(ds, coco)
    ann = json.loads(coco.read_text())["annotations"][0]
    assert ann["labelme_flags"] == {"occluded": True}
    back = load_dataset(coco)
    report = write_labelme(back, tmp_path / "lm")
    data = json.loads((tmp_path / "lm" / "scene.json").read_text())
    assert data["shapes"][0]["flags"] == {"occluded": True}
    assert data["shapes"][0]["description"] == "partly hidden"
    assert data["flags"] == {"reviewed": True, "blurry": False}
    assert report.crowd_kept == 1 and report.instances == 6


def test_coco_style_data_to_labelme_and_back_keeps_every_instance(tmp_path):
    src = synthetic_dataset(tmp_path)
    out = tmp_path / "lm"
    report = write_labelme(src, out)
    assert report.instances == 4 and report.crowd_kept == 1 and report.holes_bridged == 3
    assert report.mean_iou >= 0.97 and report.worst_iou >= 0.95
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                   if p.is_file() and not p.name.startswith("."))
    assert files == ["plain.json", "plain.png", "plain10.json", "plain10.png",
                     "sub/bild_ü_猫.json", "sub/bild_ü_猫.png"]  # each image beside its JSON
    data = json.loads((out / "sub" / "bild_ü_猫.json").read_text(encoding="utf-8"))
    assert data["imagePath"] == "bild_ü_猫.png" and data["imageData"] is None
    assert (data["imageHeight"], data["imageWidth"]) == (96, 112)
    plain = json.loads((out / "plain.json").read_text())
    groups = [s["group_id"] for s in plain["shapes"] if s["label"] == UNICODE_CLASS]
    assert groups == [1, 1]  # the two parts of one instance
    back = read_labelme(out)
    assert back.warnings == []
    assert [r.file_name for r in back.images] == ["plain.png", "plain10.png",
                                                "sub/bild_ü_猫.png"]
    assert back.image_path(back.images[2]).is_file()
    src_names, back_names = src.category_names(), back.category_names()
    for a, b in matched(src, back):
        assert len(a.instances) == len(b.instances)
        for x, y in zip(a.instances, b.instances):
            assert back_names[y.category_id] == src_names[x.category_id]
            assert y.iscrowd == x.iscrowd
            assert mask_iou(x, y) >= 0.95, (a.file_name, src_names[x.category_id])


def test_a_labelme_folder_is_read_in_natural_order_with_unannotated_images(tmp_path):
    for n in (10, 2, 1):
        grey_png(tmp_path / f"img{n}.png", 60, 80)
    for n in (10, 2):
        data = json.loads(FIXTURE.read_text())
        data["imagePath"] = f"img{n}.png"
        (tmp_path / f"img{n}.json").write_text(json.dumps(data))
    ds = read_labelme(tmp_path)
    assert [r.file_name for r in ds.images] == ["img1.png", "img2.png", "img10.png"]
    assert [len(r.instances) for r in ds.images] == [0, 7, 7]
    assert ds.image_root == tmp_path


def hostile(scene: Path, change) -> Path:
    data = json.loads(scene.read_text())
    change(data)
    scene.write_text(json.dumps(data))
    return scene


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["shapes"][0].update(points=[[10, float("nan")], [30, 40], [20, 55]]), "finite"),
    (lambda d: d["shapes"][0].update(points=[[10, 1e12], [30, 40], [20, 55]]), "far outside"),
    (lambda d: d["shapes"][0].update(points=[[10, float("inf")], [30, 40], [20, 55]]), "finite"),
    (lambda d: d["shapes"][0].update(points="10,40"), "pairs"),
    (lambda d: d["shapes"][0].update(points=[["10", 40], [30, 40], [20, 55]]), "finite"),
    (lambda d: d["shapes"][0].update(points=[[True, 40], [30, 40], [20, 55]]), "finite"),
    (lambda d: d["shapes"][0].pop("label"), "label"),
    (lambda d: d["shapes"][0].update(group_id="1"), "group_id"),
    (lambda d: d["shapes"][0].update(flags=[]), "flags"),
    (lambda d: d["shapes"].append(7), "not an object"),
    (lambda d: d.update(imageHeight=-5), "imageHeight"),
    (lambda d: d.update(imageWidth=80.5), "imageWidth"),
    (lambda d: d.update(imagePath=3), "imagePath"),
    (lambda d: d["shapes"][9].update(mask="not base64!"), "base64"),
])
def test_bad_numbers_and_types_raise_format_error_naming_the_file(scene, change, problem):
    with pytest.raises(FormatError) as e:
        read_labelme(hostile(scene, change))
    assert str(scene) in str(e.value) and problem in str(e.value)


def test_not_json_or_not_labelme_raise_format_error(tmp_path):
    bad = tmp_path / "a.json"
    bad.write_text("{not json")
    with pytest.raises(FormatError, match="a.json"):
        read_labelme(bad)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(FormatError, match="not a labelme file"):
        read_labelme(bad)


def test_in_a_folder_a_malformed_or_imageless_file_is_skipped_and_named(scene, tmp_path):
    bad = tmp_path / "bad.json"
    data = json.loads(FIXTURE.read_text())
    data["shapes"][0]["points"][0][0] = float("nan")
    bad.write_text(json.dumps(data))  # Python writes NaN, as some tools do
    lost = tmp_path / "lost.json"
    data = json.loads(FIXTURE.read_text())
    data.update(imagePath="gone.png", imageData="aGVsbG8=")
    lost.write_text(json.dumps(data))
    ds = read_labelme(tmp_path)
    assert [r.file_name for r in ds.images] == ["scene.png"]
    assert len(ds.images[0].instances) == 7
    assert any(str(bad) in w and "finite" in w for w in ds.warnings)
    assert any(str(lost) in w and "gone.png" in w and "imageData" in w for w in ds.warnings)


def test_image_size_comes_from_the_image_when_the_file_disagrees(scene):
    ds = read_labelme(hostile(scene, lambda d: d.update(imageHeight=30)))
    assert (ds.images[0].height, ds.images[0].width) == (60, 80)
    assert any("differ" in w and str(scene) in w for w in ds.warnings)


def test_an_image_moved_beside_its_json_is_still_found(scene):
    ds = read_labelme(hostile(scene, lambda d: d.update(imagePath="C:\\old\\place\\scene.png")))
    assert ds.images[0].file_name == "scene.png" and len(ds.images[0].instances) == 7
