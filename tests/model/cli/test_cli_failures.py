"""Partial failures and inputs the README promises (issue 10): each one used to end in a
traceback, a lost result or a silent wrong answer."""
from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest
import torch
from PIL import Image

import main
import model.cli.commands as cli
import model.cli.predict_command as predict_cli
from model.data import masks as M
from model.data.atomic import atomic_write_bytes
from tests.helpers import make_coco, shapes_dataset, write_image

FAST = ["--weights", "none", "--device", "cpu", "--min-size", "64", "--max-size", "96",
        "--score-threshold", "0.3"]


@pytest.fixture
def imgs(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    write_image(d / "a.png", 64, 80, 1)
    write_image(d / "b.png", 48, 64, 2)
    return d


def test_a_degenerate_image_is_skipped_not_fatal(imgs, tmp_path, capsys):
    Image.fromarray(np.zeros((1, 3000, 3), np.uint8)).save(imgs / "thin.png")
    out = tmp_path / "o.json"
    assert main.main(["predict", str(imgs), "--out", str(out), "--batch-size", "3"] + FAST) == 0
    err = capsys.readouterr().err
    assert "thin.png" in err and "3000x1" in err and "1 image(s) skipped" in err
    names = sorted(i["file_name"] for i in json.loads(out.read_text())["images"])
    assert names == ["a.png", "b.png"]


@pytest.mark.parametrize("args", [
    ["predict", "IMGS", "--out", "TMP", "--batch-size", "0"],
    ["predict", "IMGS", "--out", "TMP", "--batch-size", "-1"],
    ["predict", "IMGS", "--out", "TMP", "--min-size", "-5"],
    ["predict", "IMGS", "--out", "TMP", "--score-threshold", "nan"],
    ["predict", "IMGS", "--out", "TMPDIR"],
    ["train", "IMGS", "--out", "TMP", "--epochs", "0"],
    ["train", "IMGS", "--out", "TMP", "--iterations", "-3"],
    ["train", "IMGS", "--out", "TMPDIR"],
    ["export", "IMGS", "--out", "TMPDIR"],
])
def test_bad_arguments_are_refused_at_parse_time(args, imgs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "open_path", lambda *a, **k: pytest.fail("work started"))
    monkeypatch.setattr(predict_cli, "open_path", lambda *a, **k: pytest.fail("work started"))
    args = [{"IMGS": str(imgs), "TMP": str(tmp_path / "o.json"), "TMPDIR": str(tmp_path)}.get(a, a)
            for a in args]
    if args[0] == "export":  # --out may be a folder (yolo-seg, labelme, masks): refused
        assert main.main(args) == 2  # once the format is known, still before any work
    else:
        with pytest.raises(SystemExit) as e:
            main.main(args)
        assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_an_unwritable_output_is_refused_before_the_model_runs(imgs, tmp_path, capsys,
                                                                monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "o.json").write_text("{}")
    os.chmod(locked / "o.json", 0o444)
    import model.net.predictor
    monkeypatch.setattr(model.net.predictor, "Predictor", lambda **k: pytest.fail("model built"))
    assert main.main(["predict", str(imgs), "--out", str(locked / "o.json")] + FAST) == 2
    assert "read-only" in capsys.readouterr().err


def test_a_write_that_fails_at_the_end_keeps_the_results(imgs, tmp_path, capsys, monkeypatch):
    real = predict_cli.save_dataset
    out = tmp_path / "o.json"

    def full_disk(ds, path, *a, **k):
        if str(path) == str(out):
            raise OSError(28, "No space left on device")
        return real(ds, path, *a, **k)

    monkeypatch.setattr(predict_cli, "save_dataset", full_disk)
    assert main.main(["predict", str(imgs), "--out", str(out)] + FAST) == 1
    err = capsys.readouterr().err
    assert "No space left" in err and "kept in" in err and err.count("error:") == 1
    kept = err.split("kept in ")[1].split()[0]
    assert len(json.loads(open(kept).read())["images"]) == 2
    os.unlink(kept)


def test_a_plain_torchvision_state_dict_is_accepted(imgs, tmp_path, capsys):
    import torchvision
    torch.manual_seed(0)
    m = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    path = tmp_path / "plain.pth"
    torch.save(m.state_dict(), path)  # BatchNorm's num_batches_tracked included
    args = ["predict", str(imgs), "--out", str(tmp_path / "o.json"), "--weights", str(path),
            "--device", "cpu", "--min-size", "64", "--max-size", "96"]
    assert main.main(args) == 0, capsys.readouterr().err


def test_a_checkpoint_with_bad_class_data_gets_one_clear_message(imgs, tmp_path, capsys):
    from model.net.build import build_model
    sd = build_model("maskrcnn_resnet50_fpn", 3).state_dict()
    path = tmp_path / "bad.pt"
    torch.save({"arch": "maskrcnn_resnet50_fpn", "num_classes": 3, "categories": [1, 2],
                "model": sd}, path)
    rc = main.main(["predict", str(imgs), "--out", str(tmp_path / "o.json"), "--weights",
                    str(path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and str(path) in err and "category 1" in err and "Traceback" not in err


def gt_and_results(tmp_path):
    gt = make_coco(tmp_path)
    h, w = 64, 80
    m = np.zeros((h, w), bool)
    m[5:15, 5:20] = True
    rle = M.encode_rle(*M.tight_crop(m), h, w)
    return gt, [
        {"image_id": 0, "category_id": 3, "score": 0.9,
         "segmentation": [[5, 5, 20, 5, 20, 15, 5, 15]]},  # a second annotator's polygons
        {"image_id": 0, "category_id": 3, "score": 0.8, "segmentation": rle},
        {"image_id": 0, "category_id": 3, "score": 0.7,
         "segmentation": {"size": [h, w], "counts": M.rle_counts_from_crop(*M.tight_crop(m), h, w)}},
    ]


def test_evaluate_accepts_polygon_and_rle_results(tmp_path, capsys):
    gt, results = gt_and_results(tmp_path)
    pred = tmp_path / "res.json"
    pred.write_text(json.dumps(results))
    assert main.main(["evaluate", str(gt), str(pred), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["segm"]["AP"] is not None and metrics["bbox"]["AP"] is not None


def test_evaluate_box_only_results_say_what_they_allow(tmp_path, capsys):
    gt, _ = gt_and_results(tmp_path)
    pred = tmp_path / "boxes.json"
    pred.write_text(json.dumps([{"image_id": 0, "category_id": 3, "score": 0.9,
                                 "bbox": [5, 5, 15, 10]}]))
    assert main.main(["evaluate", str(gt), str(pred), "--json"]) == 0
    cap = capsys.readouterr()
    metrics = json.loads(cap.out)
    assert metrics["bbox"]["AP"] is not None and all(v is None for v in metrics["segm"].values())
    assert "boxes only" in cap.err and "segm" in cap.err


def test_symlinks_out_of_the_image_folder_are_not_followed(imgs, tmp_path, capsys):
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    write_image(secret / "private.png", 32, 32, 5)
    (imgs / "link.png").symlink_to(secret / "private.png")
    out = tmp_path / "o.json"
    assert main.main(["predict", str(imgs), "--out", str(out)] + FAST) == 0
    assert "link.png" in capsys.readouterr().err
    assert "link.png" not in {i["file_name"] for i in json.loads(out.read_text())["images"]}
    assert main.main(["predict", str(imgs), "--out", str(out), "--follow-symlinks"] + FAST) == 0
    assert "link.png" in {i["file_name"] for i in json.loads(out.read_text())["images"]}


def test_a_coco_file_name_through_a_symlink_is_refused(tmp_path, tmp_path_factory):
    from model.data.coco import load_dataset
    from model.errors import ImageReadError
    gt = make_coco(tmp_path)
    secret = tmp_path_factory.mktemp("outside") / "secret.png"
    write_image(secret, 64, 80)
    a = tmp_path / "imgs" / "a.png"
    a.unlink()
    a.symlink_to(secret)
    ds = load_dataset(gt)
    with pytest.raises(ImageReadError, match="symbolic link"):
        ds.image_path(ds.images[0])
    ds.follow_symlinks = True
    assert ds.image_path(ds.images[0]) == a


def test_export_onto_its_own_input_is_safe(tmp_path, capsys):
    gt = make_coco(tmp_path)
    before = json.loads(gt.read_text())
    assert main.main(["export", str(gt), "--out", str(gt)]) == 0
    after = json.loads(gt.read_text())
    assert [a["id"] for a in after["annotations"]] == [a["id"] for a in before["annotations"]]
    assert "5/5 masks pixel-identical" in capsys.readouterr().out


def test_stale_temp_files_of_killed_saves_are_removed(tmp_path):
    target = tmp_path / "a.json"
    old = tmp_path / ".a.json.abc123.tmp"
    old.write_text("half a file")
    past = time.time() - 3600
    os.utime(old, (past, past))
    mine = tmp_path / ".a.json.new.tmp"  # a save of this process could be writing it
    mine.write_text("x")
    atomic_write_bytes(target, b"{}")
    assert not old.exists() and mine.exists() and target.read_bytes() == b"{}"


@pytest.mark.slow
def test_training_skips_a_corrupt_image_names_it_and_still_saves(tmp_path, capsys):
    coco = shapes_dataset(tmp_path / "d", n=4)
    (tmp_path / "d" / "s2.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "m.pt"
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    rc = main.main(["train", str(coco), "--out", str(out), "--weights", "none", "--device", "cpu",
                    "--iterations", "2", "--workers", "0", "--min-size", "64", "--max-size", "96",
                    "--val-fraction", "0", "--rois-per-image", "32", "--progress", "jsonl"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0 and out.is_file()
    err = [e for e in events if e["event"] == "error"]
    assert err and "s2.png" in err[0]["message"] and err[0]["fatal"] is False
    assert events[-1]["event"] == "done"
    # the training command's Ctrl+C/SIGTERM handlers are gone again: this process is not a
    # training run any more, and SIGTERM must end it
    assert {s: signal.getsignal(s) for s in handlers} == handlers
