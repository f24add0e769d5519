"""The audit (model/audit): each suspect rule on a tiny synthetic image, the ranking,
SUSPECTS.json's schema and validation, and the `audit` command (given predictions, and
cross-fold predictions from tiny fold models)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from model.audit.suspects import (SLOPPY_IOU, find_suspects, image_suspects, read_suspects,
                                  write_suspects)
from model.cli.entry import main
from model.data import masks as M
from model.data.annotations import Category, Dataset, Instance
from model.data.coco import load_dataset, save_dataset
from model.data.synthetic import shapes_dataset
from model.editing.review import mask_iou
from model.errors import SuspectsFileError

H = W = 64
CATS = (Category(1, "disc"), Category(2, "square"))


def disc(cx: int, cy: int, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def pred(cat: int, mask: np.ndarray, score: float) -> Instance:
    return Instance(cat, mask, score=score, source="model")


def one_image(*anns: Instance, status: str = "done") -> Dataset:
    ds = Dataset(CATS)
    rec = ds.add_image("a.png", W, H)
    rec.status = status
    for a in anns:
        ds.add_instance(rec, a)
    return ds


def reasons(ds: Dataset, preds: list[Instance]) -> list[str]:
    return [s.reason for s in image_suspects(ds.images[0], preds)]


def test_agreement_gives_no_suspect():
    ds = one_image(Instance(1, disc(20, 20, 8)), Instance(2, disc(44, 44, 8)))
    assert reasons(ds, [pred(1, disc(20, 20, 8), 0.9), pred(2, disc(44, 44, 8), 0.8)]) == []


def test_missing_only_on_done_or_decided_images():
    ds = one_image(Instance(1, disc(20, 20, 8)))
    preds = [pred(1, disc(20, 20, 8), 0.9), pred(2, disc(46, 46, 8), 0.8),
             pred(1, disc(46, 46, 8), 0.6),  # the same unlabelled object: one suspect
             pred(2, disc(46, 14, 6), 0.3)]  # not confident
    [s] = image_suspects(ds.images[0], preds)
    assert (s.reason, s.category_id, s.annotation_id, s.score) == ("missing", 2, None, 0.8)
    # an image with a prediction nobody reviewed is not known to be complete
    ds.images[0].status = "in_progress"
    ds.add_instance(ds.images[0], Instance(1, disc(10, 50, 5), score=0.7, source="model"))
    assert "missing" not in reasons(ds, preds)
    # a person rejected that object: the model saying it again is no missed label
    ds = one_image(Instance(1, disc(20, 20, 8)), Instance(2, disc(46, 46, 8), score=0.9,
                                                          source="model", review="rejected"))
    assert reasons(ds, preds) == []


def test_wrong_class_and_a_more_confident_same_class_prediction():
    ds = one_image(Instance(1, disc(30, 30, 10)))
    [s] = image_suspects(ds.images[0], [pred(2, disc(30, 30, 10), 0.9),
                                        pred(1, disc(30, 30, 10), 0.2)])
    assert (s.reason, s.category_id, s.annotation_id) == ("wrong_class", 2,
                                                          ds.images[0].instances[0].id)
    assert s.score == pytest.approx(0.9)  # the low same-class score is not confident
    assert reasons(ds, [pred(2, disc(30, 30, 10), 0.7), pred(1, disc(30, 30, 10), 0.8)]) == []


@pytest.mark.parametrize("r_ann", [10 * 0.7 ** 0.5, 10 * 1.3 ** 0.5])  # 30 % of the area
def test_sloppy_mask_eroded_or_dilated_by_30_percent(r_ann):
    ds = one_image(Instance(1, disc(30, 30, r_ann)))
    [s] = image_suspects(ds.images[0], [pred(1, disc(30, 30, 10), 0.9)])
    assert s.reason == "sloppy_mask" and s.category_id == 1
    assert np.array_equal(M.paste(s.mask, s.offset, H, W), disc(30, 30, 10))
    iou = 1 - s.score / 0.9
    assert 0.6 < iou < SLOPPY_IOU


def test_a_close_mask_is_not_sloppy():
    ds = one_image(Instance(1, disc(30, 30, 10)))
    assert reasons(ds, [pred(1, disc(30, 30, 9.7), 0.9)]) == []


def test_spurious_unless_a_prediction_above_the_low_score_overlaps():
    ds = one_image(Instance(1, disc(20, 20, 8)))
    [s] = image_suspects(ds.images[0], [])
    assert (s.reason, s.category_id, s.score) == ("spurious", None, 1.0)
    [s] = image_suspects(ds.images[0], [pred(1, disc(20, 20, 8), 0.02)])
    assert s.reason == "spurious" and s.score == pytest.approx(0.98)
    # any class, any shape that overlaps: the wrong class is a wrong_class suspect instead
    assert "spurious" not in reasons(ds, [pred(2, disc(20, 20, 8), 0.3)])
    assert reasons(ds, [pred(2, disc(48, 48, 8), 0.9)]) == ["spurious", "missing"]


def test_undecided_and_crowd_instances_are_not_audited():
    ds = one_image(Instance(1, disc(20, 20, 8), score=0.4, source="model"),
                   Instance(1, disc(44, 44, 8), iscrowd=True), status="in_progress")
    assert reasons(ds, []) == []


def test_suspects_ranked_across_images_and_predicted_images_only():
    ds = Dataset(CATS)
    for k in range(3):
        rec = ds.add_image(f"{k}.png", W, H)
        rec.status = "done"
        ds.add_instance(rec, Instance(1, disc(20, 20, 8)))
    preds = {1: [pred(2, disc(20, 20, 8), 0.6)],  # wrong class 0.6
             2: [pred(1, disc(20, 20, 8), 0.9), pred(1, disc(46, 46, 8), 0.95)]}  # missing
    out = find_suspects(ds, preds)
    assert [(s.image_id, s.reason) for s in out] == [(2, "missing"), (1, "wrong_class")]
    assert [s.score for s in out] == sorted((s.score for s in out), reverse=True)


def test_suspects_json_schema_round_trip_and_validation(tmp_path):
    ds = one_image(Instance(1, disc(20, 20, 8)), Instance(2, disc(44, 44, 8)))
    ds.images[0].instances[0].id, ds.images[0].instances[1].id = 7, 8
    suspects = find_suspects(ds, {1: [pred(2, disc(20, 20, 8), 0.9),
                                      pred(1, disc(12, 50, 6), 0.7)]})
    path = tmp_path / "suspects.json"
    write_suspects(path, ds, suspects)
    data = json.loads(path.read_text())
    assert [d["reason"] for d in data] == ["spurious", "wrong_class", "missing"]
    assert set(data[0]) == {"image_id", "reason", "score", "annotation_id"}
    assert data[0]["annotation_id"] == 8
    assert set(data[1]) == {"image_id", "reason", "score", "annotation_id", "category_id",
                            "segmentation"}
    assert set(data[2]) == {"image_id", "reason", "score", "category_id", "segmentation"}
    assert isinstance(data[2]["segmentation"]["counts"], str)
    back = read_suspects(path, ds)
    assert [(s.reason, s.annotation_id, s.category_id) for s in back] == \
        [(s.reason, s.annotation_id, s.category_id) for s in suspects]
    alt = back[2].alternative(H, W)
    assert np.array_equal(alt.full_mask(H, W), disc(12, 50, 6))
    bad = [dict(data[1], annotation_id=99), dict(data[2], reason="typo"),
           dict(data[2], segmentation={"size": [9, 9], "counts": "0"}),
           dict(data[0], score="high")]
    path.write_text(json.dumps(bad))
    with pytest.raises(SuspectsFileError) as e:
        read_suspects(path, ds)
    assert str(path) in str(e.value) and len(e.value.problems) == 4
    assert "annotation_id 99" in str(e.value)


def _gt_file(tmp_path):
    ds = one_image(Instance(1, disc(20, 20, 8)), Instance(2, disc(44, 44, 8)))
    ds.image_root = tmp_path
    gt = tmp_path / "gt.json"
    save_dataset(ds, gt)
    return gt


def test_cli_with_given_predictions(tmp_path, capsys):
    gt = _gt_file(tmp_path)
    ds = load_dataset(gt)
    results = [{"image_id": 1, "category_id": 2, "score": 0.9,
                "segmentation": M.encode_rle(disc(20, 20, 8), (0, 0), H, W)},
               {"image_id": 1, "category_id": 2, "score": 0.8,
                "segmentation": M.encode_rle(disc(44, 44, 8), (0, 0), H, W)}]
    pred_path = tmp_path / "pred.json"
    pred_path.write_text(json.dumps(results))
    out = tmp_path / "s.json"
    assert main(["audit", str(gt), "--predictions", str(pred_path), "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["by_reason"] == {"missing": 0, "wrong_class": 1, "sloppy_mask": 0,
                                    "spurious": 0}
    [s] = read_suspects(out, ds)
    assert (s.reason, s.category_id) == ("wrong_class", 2)
    # bad input: one error line naming the file, exit code 2, nothing written
    pred_path.write_text(json.dumps([{"image_id": 1, "score": 1}]))
    out.unlink()
    assert main(["audit", str(gt), "--predictions", str(pred_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "pred.json" in err and not out.exists()


@pytest.mark.slow
def test_cli_folds_trains_and_predicts_every_held_out_image(tmp_path, capsys):
    coco = shapes_dataset(tmp_path / "d", n=4, size=64)
    out = tmp_path / "s.json"
    assert main(["audit", str(coco), "--folds", "2", "--weights", "none", "--iterations", "2",
                 "--batch-size", "1", "--min-size", "64", "--max-size", "64", "--device", "cpu",
                 "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 4
    read_suspects(out, load_dataset(coco))  # valid against the dataset


def test_missing_beside_a_labelled_object_that_it_overlaps_a_little():
    ds = one_image(Instance(1, disc(24, 30, 10)))
    beside = disc(34, 30, 9)  # overlaps the annotation at IoU 0.1..0.5
    preds = [pred(1, disc(24, 30, 10), 0.9), pred(2, beside, 0.8)]
    assert mask_iou(Instance(1, disc(24, 30, 10)), Instance(2, beside)) >= 0.1
    assert reasons(ds, preds) == ["missing"]


@pytest.mark.slow
def test_cli_with_a_model_maps_its_classes_by_name(tmp_path, capsys):
    """--weights: one model over the decided images; a COCO-label model's classes that the
    dataset lacks are dropped (never a suspect of a class the dataset does not have)."""
    coco = shapes_dataset(tmp_path / "d", n=2, size=64)
    out = tmp_path / "s.json"
    assert main(["audit", str(coco), "--weights", "none", "--min-size", "64", "--max-size",
                 "64", "--device", "cpu", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 2
    data = json.loads(out.read_text())
    assert data and {d["reason"] for d in data} == {"spurious"}  # disc/square: not COCO names
    read_suspects(out, load_dataset(coco))


class _Passes(list):
    """A list that counts the passes over it."""
    passes = 0

    def __iter__(self):
        self.passes += 1
        return super().__iter__()


def test_suspects_file_is_written_and_checked_in_one_pass_over_the_dataset(tmp_path):
    """Checking each suspect by searching its image's annotations, and each image by
    searching the images, was quadratic: 80k suspects took 308 s. Each list is read a
    fixed number of times, whatever the number of suspects."""
    from model.audit.suspects import Suspect
    ds = Dataset(CATS)
    one = ds.add_image("one.png", W, H)
    for k in range(300):
        ds.add_instance(one, Instance(1, np.ones((1, 1), bool), (k % W, k // W)))
    suspects = [Suspect(one.id, "spurious", 0.5, a.id) for a in one.instances]
    for k in range(300):
        rec = ds.add_image(f"{k}.png", W, H)
        suspects.append(Suspect(rec.id, "missing", 0.6, None, 2, disc(20, 20, 4), (0, 0)))
    ds.images = _Passes(ds.images)
    one.instances = _Passes(one.instances)
    path = tmp_path / "s.json"
    write_suspects(path, ds, suspects)
    assert len(read_suspects(path, ds)) == 600
    assert ds.images.passes <= 4 and one.instances.passes <= 4
