"""evaluate_model: the shared path of training's validation and Model -> Evaluate on done
images. The model's classes are matched by name (as its predictions are in the app), an
unreadable image leaves the truth too, cancel stops it, and the figures equal the
evaluation of the same results done by hand."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.data.masks import encode_rle
from model.errors import Cancelled, ImageReadError
from model.metrics.per_class import evaluate_report
from model.training.evaluation import TruthImage, evaluate_model, truth_record

S = 64


def square(y, x, side):
    m = np.zeros((S, S), bool)
    m[y:y + side, x:x + side] = True
    return m


class ByName:
    """A model whose label ids are not the dataset's: dog is 1, cat is 2, and it also
    knows 'bird', which the dataset lacks. It finds each image's truth exactly, calls
    one extra region a bird, and misses nothing."""

    categories = [Category(1, "dog"), Category(2, "cat"), Category(3, "bird")]

    def __init__(self, truths: dict[str, list[tuple[str, np.ndarray]]]):
        self.truths = truths
        self.calls = 0

    def predict(self, img, cancel=None):
        self.calls += 1
        ids = {c.name: c.id for c in self.categories}
        key = str(int(img[0, 0, 0]))
        out = [Instance(ids[name], m, score=0.9 - 0.1 * k, source="model")
               for k, (name, m) in enumerate(self.truths[key])]
        out.append(Instance(ids["bird"], square(50, 50, 10), score=0.2, source="model"))
        return out


def case():
    cats = [Category(5, "cat"), Category(7, "dog")]
    truths = {"0": [("cat", square(4, 4, 20)), ("dog", square(30, 30, 16))],
              "1": [("dog", square(2, 30, 20))],
              "2": [("cat", square(10, 10, 30))]}
    ids = {"cat": 5, "dog": 7}
    images, ann_ids = [], iter(range(100, 200))
    for k in range(3):
        rec = ImageRecord(10 + k, f"{k}.png", S, S)
        for name, m in truths[str(k)]:
            rec.instances.append(Instance(ids[name], m, review="accepted", id=next(ann_ids)))
        # a prediction nobody decided on is not truth
        rec.instances.append(Instance(ids["cat"], square(40, 0, 8), score=0.4, source="model",
                                      id=next(ann_ids)))
        images.append(TruthImage(truth_record(rec), Path(f"{k}.png")))
    return cats, truths, images


def reader(bad: set[str] = frozenset()):
    def read(path: Path):
        if path.name in bad:
            raise ImageReadError(path, "not an image")
        img = np.zeros((S, S, 3), np.uint8)
        img[0, 0, 0] = int(path.stem)
        return img
    return read


def test_classes_matched_by_name_and_an_unknown_class_gets_a_row():
    cats, truths, images = case()
    report, skipped = evaluate_model(ByName(truths), cats, images, reader())
    assert skipped == []
    pc = report["per_class"]
    assert pc["cat"]["segm"]["AP"] == pytest.approx(1.0)
    assert pc["dog"]["segm"]["AP"] == pytest.approx(1.0)
    assert pc["bird"]["segm"]["AP"] is None  # no truth of that class
    assert [c["instances"] for c in report["classes"]] == [2, 2, 0]
    cm = report["confusion"]
    assert cm["labels"] == ["cat", "dog", "bird", "background"]
    # the birds (score 0.2) are below the matrix's score; the truth is all on the diagonal
    assert np.trace(np.asarray(cm["matrix"])[:2, :2]) == 4


def test_without_adopting_the_label_ids_are_taken_as_they_are():
    """Training validates so: its model has the dataset's ids. Here they differ, so the
    model's dog (1) and cat (2) match nothing of the dataset's cat (5) and dog (7)."""
    cats, truths, images = case()
    report, _ = evaluate_model(ByName(truths), cats, images, reader(), adopt=False)
    assert report["per_class"]["cat"]["segm"]["AP"] == 0.0
    assert "bird" not in report["per_class"]


def test_figures_equal_evaluate_report_on_the_same_results():
    cats, truths, images = case()
    report, _ = evaluate_model(ByName(truths), cats, images, reader())
    gt = Dataset(cats + [Category(3, "bird")])
    results = []
    ids = {"cat": 5, "dog": 7, "bird": 3}
    for item in images:
        gt.images.append(item.rec)
        preds = truths[str(int(item.path.stem))] + [("bird", square(50, 50, 10))]
        for k, (name, m) in enumerate(preds):
            score = 0.2 if name == "bird" else 0.9 - 0.1 * k
            ys, xs = np.nonzero(m)
            results.append({"image_id": item.rec.id, "category_id": ids[name], "score": score,
                            "segmentation": encode_rle(m, (0, 0), S, S),
                            "bbox": [float(xs.min()), float(ys.min()),
                                     float(xs.max() - xs.min() + 1),
                                     float(ys.max() - ys.min() + 1)]})
    assert report == evaluate_report(gt, results)


def test_an_unreadable_image_leaves_the_truth_too_and_is_named():
    cats, truths, images = case()
    seen = []
    report, skipped = evaluate_model(ByName(truths), cats, images, reader({"2.png"}),
                                     progress=lambda d, t: seen.append((d, t)))
    assert len(skipped) == 1 and "2.png" in skipped[0] and "not an image" in skipped[0]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    # image 2's cat is not counted as missed: cat keeps AP 1 on the images read
    assert report["per_class"]["cat"]["segm"]["AP"] == pytest.approx(1.0)
    assert [c["instances"] for c in report["classes"]][:2] == [1, 2]


def test_a_size_that_disagrees_with_the_annotations_is_left_out():
    cats, truths, images = case()
    rec = images[1].rec
    rec.width = 99
    _report, skipped = evaluate_model(ByName(truths), cats, images, reader())
    assert len(skipped) == 1 and "64x64" in skipped[0] and "99x64" in skipped[0]


def test_cancel_stops_between_images():
    cats, truths, images = case()
    cancel = threading.Event()
    model = ByName(truths)

    def progress(done, _total):
        if done == 1:
            cancel.set()
    with pytest.raises(Cancelled):
        evaluate_model(model, cats, images, reader(), cancel=cancel, progress=progress)
    assert model.calls == 1


def test_truth_record_owns_its_instances_and_keeps_only_truth():
    rec = ImageRecord(1, "a.png", S, S)
    kept = Instance(5, square(0, 0, 8), review="accepted")
    drawn = Instance(5, square(20, 20, 8))  # a person's: truth without review
    rejected = Instance(5, square(40, 40, 8), review="rejected")
    pending = Instance(5, square(10, 40, 8), score=0.7, source="model")
    crowd = Instance(5, square(50, 0, 8), iscrowd=True)
    rec.instances = [kept, drawn, rejected, pending, crowd]
    t = truth_record(rec)
    assert len(t.instances) == 3 and t.instances[2].iscrowd
    assert all(a is not b for a, b in zip(t.instances, (kept, drawn, crowd)))
    kept.set_mask(square(0, 0, 4))  # the document goes on; the snapshot does not change
    assert t.instances[0].area == 64
