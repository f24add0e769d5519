"""Per-class evaluation: pycocotools' own per-category figures, the confusion matrix on a
case with known confusions, `evaluate --per-class --json` keys and `--plots` PNGs."""
from __future__ import annotations

import contextlib
import copy
import io
import json

import cv2
import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from model.cli.entry import main
from model.data.annotations import Category, Dataset, Instance
from model.data.coco import save_dataset
from model.data.masks import encode_rle
from model.metrics.evaluate import gt_coco
from model.metrics.per_class import evaluate_report

S = 128


def _rect(y0, x0, h, w, side=S):
    m = np.zeros((side, side), bool)
    m[y0:y0 + h, x0:x0 + w] = True
    return m


def _res(image_id, cat, mask, score):
    ys, xs = np.nonzero(mask)
    return {"image_id": image_id, "category_id": cat, "score": float(score),
            "segmentation": encode_rle(mask, (0, 0), S, S),
            "bbox": [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                     float(ys.max() - ys.min() + 1)]}


def random_case(seed=0, n_images=6):
    """Three classes (one with no ground truth at all), jittered, swapped, missed and
    spurious predictions with random scores."""
    rng = np.random.default_rng(seed)
    ds = Dataset([Category(3, "cat"), Category(7, "dog"), Category(11, "owl"),
                  Category(12, "emu")])
    results = []
    for k in range(n_images):
        rec = ds.add_image(f"i{k}.png", S, S)
        for _ in range(int(rng.integers(2, 6))):
            h, w = (int(v) for v in rng.integers(8, 40, 2))
            y, x = int(rng.integers(0, S - h)), int(rng.integers(0, S - w))
            cat = int(rng.choice([3, 7, 11]))
            m = _rect(y, x, h, w)
            ds.add_instance(rec, Instance(cat, m, review="accepted"))
            if rng.random() < 0.15:
                continue  # missed
            dy, dx = (int(v) for v in rng.integers(-4, 5, 2))
            pm = _rect(max(0, y + dy), max(0, x + dx), h, w)
            pcat = cat if rng.random() > 0.2 else int(rng.choice([3, 7, 11]))
            results.append(_res(rec.id, pcat, pm, rng.random()))
        for _ in range(int(rng.integers(0, 3))):  # spurious
            y, x = (int(v) for v in rng.integers(0, S - 20, 2))
            results.append(_res(rec.id, int(rng.choice([3, 7, 11, 12])), _rect(y, x, 15, 15),
                                rng.random()))
    return ds, results


def direct_cocoeval(ds, results, iou_type, cat_id):
    """COCOeval restricted to one category, as a user would run it."""
    coco_gt = gt_coco(ds)
    res = copy.deepcopy(results)
    if iou_type == "segm":
        for r in res:
            r.pop("bbox")
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco_gt, coco_gt.loadRes(res), iou_type)
        ev.params.catIds = [cat_id]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [None if v < 0 else float(v) for v in ev.stats[:3]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_class_equals_pycocotools_per_category(seed):
    ds, results = random_case(seed)
    report = evaluate_report(ds, results)
    for name, cat in (("cat", 3), ("dog", 7), ("owl", 11), ("emu", 12)):
        for t in ("bbox", "segm"):
            want = direct_cocoeval(ds, results, t, cat)
            got = [report["per_class"][name][t][m] for m in ("AP", "AP50", "AP75")]
            assert got == pytest.approx(want, abs=1e-12), (name, t)
    assert report["per_class"]["emu"]["segm"]["AP"] is None  # no ground truth: no AP
    assert report["per_class"]["cat"]["segm"]["AP"] is not None
    # today's keys are still there and unchanged
    assert set(report["segm"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}


def test_pr_curves_are_per_class_at_iou_half():
    ds, results = random_case(0)
    report = evaluate_report(ds, results)
    pr = report["pr_curves"]
    assert pr["iou_threshold"] == 0.5 and len(pr["recall"]) == 101
    for name in ("cat", "dog", "owl"):
        prec = np.array(pr["segm"][name])
        assert prec.shape == (101,) and (prec >= 0).all() and (prec <= 1).all()
        assert (np.diff(prec) <= 1e-9).all()  # COCO's interpolated precision never rises
        # the AP50 is the mean of the curve, as COCOeval computes it
        assert prec.mean() == pytest.approx(report["per_class"][name]["segm"]["AP50"])
    assert pr["segm"]["emu"] is None


def known_confusions():
    """Image 1: a cat found; a dog called a cat; a spurious owl. Image 2: an owl missed,
    a dog found, a prediction on a crowd region (ignored), and a low-scored spurious cat
    (below the matrix's score threshold)."""
    ds = Dataset([Category(1, "cat"), Category(2, "dog"), Category(3, "owl")])
    a = ds.add_image("a.png", S, S)
    b = ds.add_image("b.png", S, S)
    ds.add_instance(a, Instance(1, _rect(5, 5, 30, 30), review="accepted"))
    ds.add_instance(a, Instance(2, _rect(60, 60, 30, 30), review="accepted"))
    ds.add_instance(b, Instance(3, _rect(5, 5, 30, 30), review="accepted"))
    ds.add_instance(b, Instance(2, _rect(60, 5, 30, 30), review="accepted"))
    crowd = Instance(1, _rect(60, 70, 40, 40), review="accepted")
    crowd.iscrowd = 1
    ds.add_instance(b, crowd)
    results = [_res(a.id, 1, _rect(6, 6, 30, 30), 0.9),
               _res(a.id, 1, _rect(61, 60, 30, 30), 0.8),  # the dog, as a cat
               _res(a.id, 3, _rect(100, 5, 20, 20), 0.7),  # nothing there
               _res(b.id, 2, _rect(60, 6, 30, 30), 0.95),
               _res(b.id, 2, _rect(70, 80, 20, 20), 0.9),  # inside the crowd region
               _res(b.id, 1, _rect(100, 100, 20, 20), 0.2)]  # below the threshold
    return ds, results, a.id, b.id


def test_confusion_matrix_on_known_confusions():
    ds, results, a, b = known_confusions()
    cm = evaluate_report(ds, results)["confusion"]
    assert cm["labels"] == ["cat", "dog", "owl", "background"]
    assert cm["iou_type"] == "segm" and cm["iou_threshold"] == 0.5
    #                  predicted: cat dog owl background
    assert cm["matrix"] == [[1, 0, 0, 0],   # truth cat
                            [1, 1, 0, 0],   # truth dog
                            [0, 0, 0, 1],   # truth owl: missed
                            [0, 0, 1, 0]]   # background: a spurious owl
    assert cm["images"][1][0] == [a]  # the dog called a cat
    assert cm["images"][2][3] == [b]
    assert cm["images"][1][1] == [b]
    classes = {c["name"]: c for c in evaluate_report(ds, results)["classes"]}
    assert classes["owl"]["images"] == [a, b] and classes["owl"]["instances"] == 1


def test_confusion_matching_is_greedy_by_score_and_one_to_one():
    ds = Dataset([Category(1, "cat"), Category(2, "dog")])
    a = ds.add_image("a.png", S, S)
    ds.add_instance(a, Instance(1, _rect(10, 10, 40, 40), review="accepted"))
    # two predictions on one cat: the higher-scored (a dog) takes it, the other is spurious
    results = [_res(a.id, 1, _rect(10, 10, 40, 40), 0.6),
               _res(a.id, 2, _rect(12, 12, 40, 40), 0.9)]
    cm = evaluate_report(ds, results)["confusion"]
    assert cm["matrix"] == [[0, 1, 0], [0, 0, 0], [1, 0, 0]]


def write_case(tmp_path):
    ds, results, _a, _b = known_confusions()
    gt = tmp_path / "gt.json"
    save_dataset(ds, gt)
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(results))
    return gt, pred


def test_cli_per_class_json_keeps_todays_keys(tmp_path, capsys):
    gt, pred = write_case(tmp_path)
    assert main(["evaluate", str(gt), str(pred), "--per-class", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # one object
    assert {"bbox", "segm", "per_class", "confusion"} <= set(out)
    assert set(out["segm"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert set(out["per_class"]) == {"cat", "dog", "owl"}
    assert set(out["per_class"]["cat"]) == {"bbox", "segm"}
    assert set(out["per_class"]["cat"]["segm"]) == {"AP", "AP50", "AP75"}
    assert out["confusion"]["matrix"][1][0] == 1
    # without --per-class: today's output, exactly
    assert main(["evaluate", str(gt), str(pred), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"bbox", "segm"}


def test_cli_per_class_text(tmp_path, capsys):
    gt, pred = write_case(tmp_path)
    assert main(["evaluate", str(gt), str(pred), "--per-class"]) == 0
    out = capsys.readouterr().out
    assert "owl" in out and "confusion" in out and "background" in out


def test_cli_plots_are_valid_pngs_inside_dir(tmp_path, capsys):
    gt, pred = write_case(tmp_path)
    plots = tmp_path / "plots"
    assert main(["evaluate", str(gt), str(pred), "--per-class", "--plots", str(plots)]) == 0
    made = sorted(p.name for p in plots.iterdir())
    assert made == ["confusion.png", "pr_bbox.png", "pr_segm.png"]
    for name in made:
        data = (plots / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[0] >= 300 and img.shape[1] >= 300
        assert img.std() > 10  # drawn, not blank
    assert not list(tmp_path.glob("*.png"))  # nothing written outside DIR


def test_cli_plots_into_a_file_is_a_usage_error(tmp_path, capsys):
    gt, pred = write_case(tmp_path)
    f = tmp_path / "a_file"
    f.write_text("x")
    assert main(["evaluate", str(gt), str(pred), "--per-class", "--plots", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "a_file" in err


@pytest.mark.slow
def test_training_writes_the_val_report_beside_the_model(tmp_path):
    """The per-class figures of a fine-tune come from its own validation, in the run's
    folder, for the app's Evaluation dock."""
    from model.data.synthetic import shapes_dataset
    from model.net import checkpoint_file as C
    from model.training.run_checkpoints import eval_path
    from model.training.config import TrainConfig
    from model.training.train import run_training
    coco = shapes_dataset(tmp_path / "shapes", n=5, size=64)
    out = tmp_path / "run" / "model.pt"
    run_training(TrainConfig(coco=coco, out=out, weights="none", iterations=1, min_size=64,
                             max_size=64, workers=0, val_fraction=0.2, rois_per_image=64,
                             warmup_iters=5))
    report = json.loads(eval_path(out).read_text())
    assert eval_path(out).parent == out.parent
    assert report["split"] == "val" and report["epoch"] == 1
    assert set(report["per_class"]) == {"disc", "square"}
    assert report["confusion"]["labels"] == ["disc", "square", "background"]
    history = C.load(out)["history"][-1]
    assert set(history["val"]) == {"bbox", "segm"}  # the history stays lean
    assert history["val"]["segm"]["AP"] == report["segm"]["AP"]
    assert set(history["val_per_class"]) == {"disc", "square"}
