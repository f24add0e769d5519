"""Predictions that do not fit their ground truth (`evaluate`, `audit`): an image id that is
not an integer ("1"), an image the truth lacks, a class the truth lacks. Each kind is one
warning naming the predictions file, with its count; a file none of whose predictions
fits is refused (exit 2). A prediction of a class the truth lacks is still a detection on
its image: a false positive in the confusion matrix, and in the audit proof that the model
sees an object (no 'spurious' suspect there)."""
from __future__ import annotations

import json

import numpy as np

from model.audit.suspects import read_suspects
from model.cli.entry import main
from model.data import masks as M
from model.data.annotations import Category, Dataset, Instance
from model.data.coco import load_dataset, save_dataset
from model.metrics.confusion import BACKGROUND

OTHER = "(other classes)"  # the confusion matrix's column of classes the truth lacks

S = 64


def disc(cx: int, cy: int, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:S, :S]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def res(image_id, cat, mask, score=0.9) -> dict:
    return {"image_id": image_id, "category_id": cat, "score": score,
            "segmentation": M.encode_rle(mask, (0, 0), S, S)}


def truth(tmp_path, second: bool = False):
    """Two images of two classes: a disc on each (and a second on the first), decided."""
    ds = Dataset([Category(1, "disc"), Category(2, "ring")])
    for name in ("a.png", "b.png"):
        rec = ds.add_image(name, S, S)
        rec.status = "done"
        ds.add_instance(rec, Instance(1, disc(20, 20, 8), review="accepted"))
    if second:
        ds.add_instance(ds.images[0], Instance(1, disc(46, 46, 8), review="accepted"))
    ds.image_root = tmp_path
    path = tmp_path / "gt.json"
    save_dataset(ds, path)
    return path


def write(tmp_path, results) -> str:
    p = tmp_path / "pred.json"
    p.write_text(json.dumps(results))
    return str(p)


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


# ------------------------------------------------------------------------- evaluate

def test_evaluate_warns_each_kind_and_counts_unknown_classes_as_false_positives(
        tmp_path, capsys):
    gt = truth(tmp_path)
    far = disc(48, 48, 6)  # overlaps nothing of the truth
    results = [res(1, 1, disc(20, 20, 8)), res(2, 1, disc(20, 20, 8)),
               res("1", 1, disc(20, 20, 8)), res("2", 1, far),  # string image ids
               res(99, 1, far),  # an image the truth lacks
               *[res(2, 7, far, 0.8) for _ in range(11)],  # a class the truth lacks
               res(1, "1", far, 0.7)]  # a string category id
    pred = write(tmp_path, results)
    assert main(["evaluate", str(gt), pred, "--per-class", "--json"]) == 0
    out, err = capsys.readouterr()
    assert warnings(err) == [
        f"warning: {pred}: 2 prediction(s) have an image_id that is not an integer (such as "
        "'1'); they are left out",
        f"warning: {pred}: 1 prediction(s) are on images gt.json does not have (such as "
        "image_id 99); they are left out",
        f"warning: {pred}: 12 prediction(s) have a category_id gt.json does not have (such "
        "as 7); they are false positives of a class with no ground truth: in no class's AP, "
        "and in the confusion matrix (--per-class) as '(other classes)'"]
    report = json.loads(out)
    cm = report["confusion"]
    assert cm["labels"] == ["disc", "ring", OTHER, BACKGROUND]
    # the 12 false positives are in the background row, under the class they claim
    assert cm["matrix"] == [[2, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 12, 0]]
    assert cm["images"][3][2] == [1, 2]
    # the two right predictions: AP 1 (the others are in no class's AP)
    assert report["segm"]["AP"] == 1.0 and report["per_class"]["disc"]["segm"]["AP"] == 1.0


def test_evaluate_without_bad_references_says_nothing_and_keeps_its_matrix(tmp_path, capsys):
    gt = truth(tmp_path)
    pred = write(tmp_path, [res(1, 1, disc(20, 20, 8)), res(2, 2, disc(48, 48, 6))])
    assert main(["evaluate", str(gt), pred, "--per-class", "--json"]) == 0
    out, err = capsys.readouterr()
    assert warnings(err) == []
    cm = json.loads(out)["confusion"]
    assert cm["labels"] == ["disc", "ring", BACKGROUND]
    assert cm["matrix"] == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]


def test_evaluate_refuses_a_file_where_nothing_matches(tmp_path, capsys):
    gt = truth(tmp_path)
    for results, why in (
            ([res("1", 1, disc(20, 20, 8)), res("2", 1, disc(20, 20, 8))],
             "2 prediction(s) have an image_id that is not an integer (such as '1')"),
            ([res(5, 1, disc(20, 20, 8))], "1 prediction(s) are on images gt.json does not "
                                           "have (such as image_id 5)"),
            ([res(1, 0, disc(20, 20, 8)), res(2, 0, disc(20, 20, 8))],  # 0-based ids
             "2 prediction(s) have a category_id gt.json does not have (such as 0)")):
        pred = write(tmp_path, results)
        assert main(["evaluate", str(gt), pred]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err == (f"error: {pred}: none of its {len(results)} "
                                     f"prediction(s) is of an image and a category of "
                                     f"gt.json: {why}\n")


def test_evaluate_a_coco_prediction_file_of_other_images(tmp_path, capsys):
    gt = truth(tmp_path)
    ds = Dataset([Category(1, "disc")])
    for name, ident in (("a.png", 1), ("x.png", 7)):  # x.png: no image of gt
        rec = ds.add_image(name, S, S)
        rec.id = ident
        ds.add_instance(rec, Instance(1, disc(20, 20, 8), score=0.9, source="model"))
    pred = tmp_path / "pred_coco.json"
    save_dataset(ds, pred)
    assert main(["evaluate", str(gt), str(pred), "--json"]) == 0
    assert warnings(capsys.readouterr().err) == [
        f"warning: {pred}: 1 prediction(s) are on images gt.json does not have (such as "
        "'x.png', id 7); they are left out"]
    ds.images = ds.images[1:]  # only x.png
    save_dataset(ds, pred)
    assert main(["evaluate", str(gt), str(pred)]) == 2
    assert capsys.readouterr().err == (f"error: {pred}: none of its 1 image(s) is an image of "
                                       "gt.json (matched by file_name, else by id)\n")


# ---------------------------------------------------------------------------- audit

def test_audit_places_what_it_can_and_suspects_nothing_it_cannot_judge(tmp_path, capsys):
    gt = truth(tmp_path, second=True)
    ds = load_dataset(gt)
    # image 1: the model sees one disc as a disc, the other as a class the dataset lacks;
    # image 2: its prediction has a string image id: what the model saw there is unknown
    pred = write(tmp_path, [res(1, 1, disc(20, 20, 8)), res(1, 9, disc(46, 46, 8)),
                            res("2", 1, disc(20, 20, 8))])
    out = tmp_path / "s.json"
    assert main(["audit", str(gt), "--predictions", pred, "--out", str(out), "--json"]) == 0
    stdout, err = capsys.readouterr()
    assert warnings(err) == [
        f"warning: {pred}: 1 prediction(s) have an image_id that is not an integer (such as "
        "'2'); they are left out",
        f"warning: {pred}: 1 prediction(s) have a category_id gt.json does not have (such as "
        "9); they only keep the annotations they overlap from being 'spurious', and are "
        "never offered as an alternative",
        f"warning: {pred}: 1 of the 2 decided image(s) have no prediction in it (such as "
        "b.png); they are not audited"]
    summary = json.loads(stdout)
    assert summary["images"] == 1 and summary["suspects"] == 0  # no spurious disc
    assert read_suspects(out, ds) == []


def test_audit_refuses_predictions_that_fit_nothing(tmp_path, capsys):
    gt = truth(tmp_path)
    pred = write(tmp_path, [res("1", 1, disc(20, 20, 8)), res("2", 1, disc(20, 20, 8))])
    out = tmp_path / "s.json"
    assert main(["audit", str(gt), "--predictions", pred, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {pred}: none of its 2 prediction(s)") and not out.exists()


def test_a_class_the_dataset_lacks_is_never_an_alternative():
    """On a done image: the most confident prediction, of an unknown class (9), on an
    unlabelled object, is no 'missing' suspect (its class cannot be offered), and does
    not hide the known class's prediction on another unlabelled object below it."""
    from model.audit.suspects import image_suspects
    ds = Dataset([Category(1, "disc")])
    rec = ds.add_image("a.png", S, S)
    rec.status = "done"
    ds.add_instance(rec, Instance(1, disc(20, 20, 8), review="accepted"))
    preds = [Instance(9, disc(46, 46, 8), score=0.95, source="model"),
             Instance(9, disc(20, 20, 8), score=0.9, source="model"),  # as wrong_class: no
             Instance(1, disc(46, 14, 6), score=0.7, source="model")]
    [s] = image_suspects(rec, preds, {1})
    assert (s.reason, s.category_id, s.score) == ("missing", 1, 0.7)


def test_a_coco_prediction_file_meets_the_truths_classes_by_name(tmp_path, capsys):
    """A model fine-tuned on a renumbered export (YOLO's 0-based classes) names its classes
    as the truth does; by id its discs would be scored as rings."""
    gt = truth(tmp_path)
    renumbered = Dataset([Category(0, "ring"), Category(1, "zebra"), Category(2, "disc")])
    for name in ("a.png", "b.png"):
        rec = renumbered.add_image(name, S, S)
        renumbered.add_instance(rec, Instance(2, disc(20, 20, 8), score=0.9, source="model"))
    renumbered.add_instance(renumbered.images[0],
                            Instance(1, disc(50, 50, 5), score=0.8, source="model"))
    pred = tmp_path / "pred_coco.json"
    save_dataset(renumbered, pred)
    assert main(["evaluate", str(gt), str(pred), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["segm"]["AP"] == 1.0  # both discs found, as discs
    assert f"note: {pred}: categories matched to gt.json's by name; 2 have another id there " \
           "(such as 'ring': 0 -> 2)" in err
    assert warnings(err) == [
        f"warning: {pred}: 1 prediction(s) have a category name gt.json does not have (such as "
        "'zebra'); they are false positives of a class with no ground truth: in no class's "
        "AP, and in the confusion matrix (--per-class) as '(other classes)'"]
    # names that differ in case or spaces only still meet, and the note says so
    loose = Dataset([Category(7, " DISC"), Category(8, "ring")])
    for name in ("a.png", "b.png"):
        loose.add_instance(loose.add_image(name, S, S),
                           Instance(7, disc(20, 20, 8), score=0.9, source="model"))
    save_dataset(loose, pred)
    assert main(["evaluate", str(gt), str(pred), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["segm"]["AP"] == 1.0 and warnings(err) == []
    assert f"note: {pred}: 1 category name(s) matched gt.json's only ignoring case and " \
           "spaces (such as ' DISC' as 'disc')" in err
    # a file with none of the truth's names is matched by id, and says so
    other = Dataset([Category(1, "Circle"), Category(2, "Annulus")])
    for name in ("a.png", "b.png"):
        other.add_instance(other.add_image(name, S, S),
                           Instance(1, disc(20, 20, 8), score=0.9, source="model"))
    save_dataset(other, pred)
    assert main(["evaluate", str(gt), str(pred), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["segm"]["AP"] == 1.0
    assert f"note: {pred}: none of its category names is one of gt.json's; categories " \
           "matched by id" in err
