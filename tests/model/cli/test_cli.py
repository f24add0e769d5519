"""The CLI end to end on a few tiny images, in-process (main.main) and once as a real process."""
import json
import subprocess
import sys

import numpy as np
import pytest
from pycocotools.coco import COCO

import main
from model.data.coco import load_dataset
from tests.helpers import make_coco, write_image

FAST = ["--weights", "none", "--device", "cpu", "--min-size", "64", "--max-size", "96",
        "--score-threshold", "0.3"]


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    write_image(d / "a.png", 64, 80, 1)
    write_image(d / "sub" / "b.jpg", 72, 64, 2)
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    return d


def test_predict_folder_writes_loadable_coco_and_skips_bad_images(folder, tmp_path, capsys):
    out = tmp_path / "pred.json"
    rc = main.main(["predict", str(folder), "--out", str(out), "--batch-size", "2"] + FAST)
    err = capsys.readouterr().err
    assert rc == 0
    assert "broken.png" in err and "1 image(s) skipped" in err
    assert "img/s" in err
    coco = COCO(str(out))
    assert sorted(i["file_name"] for i in coco.dataset["images"]) == ["a.png", "sub/b.jpg"]
    anns = coco.dataset["annotations"]
    assert anns and all(a["score"] >= 0.3 and a["source"] == "model" for a in anns)
    assert all(isinstance(a["segmentation"]["counts"], str) for a in anns)
    for a in anns[:5]:
        assert coco.annToMask(a).sum() == a["area"]


def test_predict_all_unreadable_fails(tmp_path, capsys):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "x.jpg").write_text("nope")
    assert main.main(["predict", str(d), "--out", str(tmp_path / "o.json")] + FAST) == 1
    assert "x.jpg" in capsys.readouterr().err


def test_predict_on_coco_keeps_image_ids_then_evaluate(tmp_path, capsys):
    gt = make_coco(tmp_path)
    out = tmp_path / "pred.json"
    assert main.main(["predict", str(gt), "--out", str(out)] + FAST) == 0
    pred = json.loads(out.read_text())
    assert [i["id"] for i in pred["images"]] == [0, 5]
    capsys.readouterr()
    assert main.main(["evaluate", str(gt), str(gt), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)  # stdout holds exactly one JSON object
    assert set(metrics) == {"bbox", "segm"}
    assert set(metrics["segm"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert metrics["segm"]["AP"] == pytest.approx(1.0)
    # the model's classes (COCO's) are none of gt's: refused, not a table of zeros
    if pred["annotations"]:
        assert main.main(["evaluate", str(gt), str(out), "--json"]) == 2
        assert "is of an image and a category of coco.json" in capsys.readouterr().err
    for a in pred["annotations"]:
        a["category_id"] = 3  # as a model of gt's classes would say
    pred["categories"] = json.loads(gt.read_text())["categories"]
    out.write_text(json.dumps(pred))
    assert main.main(["evaluate", str(gt), str(out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert all(v is None or 0.0 <= v <= 1.0 for t in metrics.values() for v in t.values())


def test_evaluate_results_list(tmp_path, capsys):
    gt = make_coco(tmp_path)
    ds = load_dataset(gt)
    from model.metrics.evaluate import results_from_dataset
    res = results_from_dataset(ds, ds)
    res = [r for r in res]
    for r in res:
        r["score"] = 0.9
    (tmp_path / "res.json").write_text(json.dumps(res))
    assert main.main(["evaluate", str(gt), str(tmp_path / "res.json")]) == 0
    out = capsys.readouterr().out
    assert "segm" in out and "1.000" in out


def test_export_round_trips(tmp_path, capsys):
    gt = make_coco(tmp_path)
    before = load_dataset(gt)
    for fmt in ("polygon", "rle"):
        out = tmp_path / f"{fmt}.json"
        assert main.main(["export", str(gt), "--out", str(out), "--format", fmt]) == 0
        text = capsys.readouterr().out
        assert "round trip: 5/5 masks pixel-identical" in text
        after = load_dataset(out, tmp_path)
        for (_, a), (_, b) in zip(before.instances(), after.instances()):
            assert np.array_equal(a.mask, b.mask) and a.offset == b.offset
    segs = [a["segmentation"] for a in json.loads((tmp_path / "rle.json").read_text())["annotations"]]
    assert all(isinstance(s, dict) and isinstance(s["counts"], str) for s in segs)


def test_bad_input_gives_one_error_line(tmp_path, capsys):
    p = tmp_path / "bad.json"
    p.write_text('{"images": 3}')
    assert main.main(["export", str(p), "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.json" in err and "Traceback" not in err


@pytest.mark.slow
def test_real_process_help_for_every_subcommand():
    for sub in ([], ["predict"], ["evaluate"], ["export"]):
        r = subprocess.run([sys.executable, "main.py", *sub, "--help"], capture_output=True,
                           text=True, cwd=main.__file__.rsplit("/", 1)[0], timeout=120)
        assert r.returncode == 0 and "usage:" in r.stdout


def test_batches_by_shape_and_writes_in_the_input_order(tmp_path, capsys):
    """Landscape and portrait images alternate; batches of 2 pair like with like (no
    padding), and the file still lists the images in the folder's order."""
    from model.cli.predict_command import batches_by_shape
    from model.formats.sources import open_path
    d = tmp_path / "mixed"
    d.mkdir()
    for k, (h, w) in enumerate([(64, 80), (80, 64), (128, 160), (80, 64), (64, 96)]):
        write_image(d / f"img{k}.png", h, w, k)
    ds = open_path(d)
    names = [[r.file_name for r in b] for b in batches_by_shape(ds, ds.images, 2)]
    assert names == [["img1.png", "img3.png"], ["img0.png", "img2.png"], ["img4.png"]]
    assert [[r.file_name for r in b] for b in batches_by_shape(ds, ds.images, 1)] == \
        [[r.file_name] for r in ds.images]
    out = tmp_path / "pred.json"
    assert main.main(["predict", str(d), "--out", str(out), "--batch-size", "2"] + FAST) == 0
    assert [i["file_name"] for i in json.loads(out.read_text())["images"]] == \
        [f"img{k}.png" for k in range(5)]
