"""The review policy (model/editing/review.py), without Qt."""
from __future__ import annotations

import numpy as np

from model.data import provenance as P
from model.editing import review as R
from model.data.annotations import Category, Dataset, ImageRecord, Instance
from model.editing.user_actions import predictions_edit


def square(x, y, s=10, **kw) -> Instance:
    return Instance(kw.pop("category_id", 1), np.ones((s, s), bool), (x, y), **kw)


def pred(x, y, score=0.9, **kw) -> Instance:
    kw.setdefault("source", "model")
    return square(x, y, score=score, **kw)


def loaded(inst: Instance) -> Instance:
    inst.original = {"id": 1}  # as if it came from the file
    return inst


def test_kinds_of_instances():
    cached, from_file = pred(0, 0), loaded(pred(0, 0))
    assert P.is_pristine(cached) and P.is_cached(cached)
    assert P.is_pristine(from_file) and not P.is_cached(from_file)
    assert not P.is_decided(cached)
    for decided in (pred(0, 0, review="accepted"), pred(0, 0, review="rejected"),
                    square(0, 0), square(0, 0, source="edited", score=0.5)):
        assert P.is_decided(decided) and not P.is_cached(decided)


def test_mask_iou_is_exact():
    a, b = square(0, 0, 10), square(5, 0, 10)
    assert R.mask_iou(a, b) == 50 / 150
    assert R.mask_iou(a, square(20, 20)) == 0.0
    assert R.mask_iou(a, square(0, 0, 10)) == 1.0


def test_merge_replaces_only_the_cache_and_drops_duplicates_of_kept_work():
    cached = pred(0, 0)
    accepted = pred(30, 0, review="accepted")
    relabelled = pred(60, 0, source="edited", category_id=2)
    file_pred = loaded(pred(0, 30))
    human = square(30, 30)
    current = [cached, accepted, relabelled, file_pred, human]
    new = [pred(0, 0), pred(31, 0), pred(60, 1), pred(0, 31), pred(30, 31), pred(70, 70)]
    m = R.merge_predictions(current, new)
    assert m.removed == [cached]
    assert m.added == [new[0], new[5]]  # the cached one's place is free; the rest duplicate
    assert m.dropped == new[1:5]  # class-agnostic: the relabelled one dedups a 'cat'
    assert m.changes_anything
    none = R.merge_predictions(current, new, iou=None)
    assert none.added == new and none.dropped == []


def test_adopt_categories_by_name_keeping_free_ids():
    cats = [Category(1, "Person"), Category(7, "car")]
    model = [Category(1, "person"), Category(3, "car"), Category(7, "dog"), Category(9, "cat")]
    mapping, new = R.adopt_categories(cats, model, [1, 3, 7, 9, 42], reserved=[9])
    assert mapping[1] == 1 and mapping[3] == 7  # by name, case-insensitive
    assert mapping[42] == 42  # unknown to the model: left alone
    dog, cat = new
    assert (dog.name, dog.adopted) == ("dog", True) and dog.id == 10  # 7 is taken
    assert cat.id == 11  # 9 is reserved (deleted this session, undo may bring it back)


def test_next_to_review_goes_forward_wraps_and_skips_decisions():
    a, b, c = pred(0, 0), pred(20, 0), pred(40, 0)
    human, accepted = square(60, 0), pred(80, 0, review="accepted")
    listed = [a, human, b, accepted, c]
    assert R.next_to_review(listed, b) is c
    assert R.next_to_review(listed, c) is a  # wraps
    assert R.next_to_review(listed, None) is a
    assert R.next_to_review(listed, human) is b
    assert R.next_to_review(listed, c, hidden={id(a)}) is b
    a.review = b.review = "accepted"
    assert R.next_to_review(listed, c) is None  # c itself is never the answer
    assert R.next_to_review([], None) is None


def rec_with(*instances, status="unreviewed", id=1) -> ImageRecord:
    return ImageRecord(id, f"{id}.png", 100, 100, list(instances), status)


def test_training_set_rule():
    done_empty = rec_with(status="done", id=1)
    decided = rec_with(square(0, 0), pred(20, 0, review="rejected"), status="in_progress", id=2)
    gt_file = rec_with(loaded(square(0, 0)), id=3)  # a ground-truth file: all hand-made
    corrected = rec_with(pred(0, 0, review="accepted"), pred(20, 0), status="in_progress", id=4)
    low_left = rec_with(pred(0, 0, review="accepted"), pred(20, 0, score=0.1),
                        status="in_progress", id=5)
    untouched = rec_with(pred(0, 0), id=6)
    empty = rec_with(id=7)
    images = [done_empty, decided, gt_file, corrected, low_left, untouched, empty]
    ts = R.training_set(images, threshold=0.5)
    assert ts.image_ids == [1, 2, 3, 5]  # a hidden low-score prediction does not count
    assert ts.groups == {"done": 1, "decided": 3, "corrected": 1, "open": 2}
    assert ts.status == {"unreviewed": 3, "in_progress": 3, "done": 1}
    assert R.training_set(images, threshold=0.0).image_ids == [1, 2, 3]
    assert R.training_set(images, include_corrected=True, threshold=0.5).image_ids == [1, 2, 3, 4, 5]


def test_predictions_edit_applies_and_reverts_exactly():
    ds = Dataset([Category(1, "cat")])
    rec = ds.add_image("a.png", 100, 100)
    old_cache = pred(0, 0, score=0.8)
    kept = pred(40, 40, review="accepted")
    for i in (old_cache, kept):
        ds.add_instance(rec, i)
    new = [pred(0, 0, category_id=5), pred(41, 40, category_id=5), pred(70, 0, category_id=6)]
    p = predictions_edit(ds, rec, new, [Category(5, "cat"), Category(6, "dog")], "m2")
    assert p.merge.removed == [old_cache] and len(p.merge.added) == 2
    p.categories.apply()
    assert [(c.id, c.name, c.adopted) for c in ds.categories] == [(1, "cat", False),
                                                                 (6, "dog", True)]
    before = list(rec.instances)
    p.instances.apply()
    assert rec.instances == [kept, new[0], new[2]] and rec.prediction_model == "m2"
    assert new[0].category_id == 1 and new[2].category_id == 6
    assert len({i.id for i in rec.instances}) == 3
    p.instances.revert()
    assert rec.instances == before and rec.prediction_model is None
    assert p.instances.cache


def test_marking_done_decides_the_image_whatever_the_threshold():
    """Issue 28 item 5: the predictions an image marked done left unreviewed (hidden by
    the threshold then) are never offered again by lowering it, and training's counts
    say the same as the list; reopening the image offers them again, exactly undone."""
    from model.editing.user_actions import review_hidden_edit, status_edit
    shown, low, lower = pred(0, 0, score=0.9), pred(20, 0, score=0.6), pred(40, 0, score=0.3)
    rec = rec_with(shown, low, lower, status="in_progress")
    offered = [i for i in rec.instances if R.is_offered(rec, i, 0.72)]
    assert offered == [shown]
    status_edit(rec, True, offered).apply()  # M at 0.72
    assert shown.review == "accepted" and rec.status == "done"
    for t in (0.72, 0.5, 0.0):  # lowering the threshold offers nothing new
        assert [i for i in rec.instances if R.is_offered(rec, i, t)] == [shown]
        ts = R.training_set([rec], threshold=t)
        assert ts.image_ids == [1] and ts.reviews == {"accepted": 1}
        assert ts.positives == {1: 1}  # the set-aside ones are background
    assert R.set_aside(rec) == [low, lower]
    edit = review_hidden_edit(rec)
    changes = edit.apply()  # Review hidden predictions
    assert rec.status == "in_progress"
    assert changes[0].listing and changes[0].rect == (20, 0, 50, 10)  # where they come back
    assert [i for i in rec.instances if R.is_offered(rec, i, 0.5)] == [shown, low]
    assert R.training_set([rec], threshold=0.5).groups["corrected"] == 1
    edit.revert()
    assert rec.status == "done" and R.set_aside(rec) == [low, lower]
    assert not review_hidden_edit(rec_with(low, status="in_progress"))  # nothing to reopen
