"""Edits as ops that apply and revert exactly, the stroke engine, and the
prediction cache; all without Qt."""
from __future__ import annotations

import json
import os
import random

import numpy as np

from model.editing import user_actions as E
from model.data.annotations import Category, Dataset, Instance
from model.data.coco import dataset_json, load_dataset, save_dataset
from model.editing.ops import PatchOp, diff_rect
from model.data.prediction_cache import read_cache, write_cache
from model.editing.stroke_engine import Stroke, polygon_ops
from tests.helpers import make_coco, ring, write_image
from tests.model.test_mask_edit import brute_capsule, brute_polygon

H, W = 64, 80


def full(inst) -> np.ndarray:
    return inst.full_mask(H, W)


def test_patch_op_keeps_only_the_changed_rectangle():
    inst = Instance(1, np.ones((40, 40), bool), (10, 10))
    after = inst.full_mask(H, W).copy()
    after[20:23, 30:34] = False
    from model.data.masks import tight_crop
    op = PatchOp.build(None, inst, tight_crop(after))
    assert op.rect == (30, 20, 34, 23)
    assert op.nbytes <= 2 * 2  # two 3x4 patches, bit-packed
    before = full(inst)
    op.apply()
    assert np.array_equal(full(inst), after)
    op.revert()
    assert np.array_equal(full(inst), before)
    assert PatchOp.build(None, inst, (inst.mask, inst.offset)) is None
    assert diff_rect((inst.mask, inst.offset), (inst.mask, inst.offset)) is None


def test_editing_marks_predictions_and_loaded_annotations_edited(tmp_path):
    ds = load_dataset(make_coco(tmp_path))
    rec = ds.images[0]
    loaded_human = rec.instances[0]
    drawn = Instance(0, np.ones((3, 3), bool), (1, 1))
    pred = Instance(0, np.ones((3, 3), bool), (1, 1), source="model", score=0.5)
    grow = lambda i: (np.ones((i.mask.shape[0] + 1, i.mask.shape[1]), bool), i.offset)  # noqa: E731
    for inst, expected in ((loaded_human, "edited"), (drawn, "human"), (pred, "edited")):
        edit = E.reshape_edit(rec, inst, grow(inst), "grow")
        edit.apply()
        assert inst.source == expected
        edit.revert()
    assert loaded_human.source == "human" and not loaded_human.edited
    rel = E.relabel_edit(rec, [loaded_human], 3, "box")
    rel.apply()
    assert loaded_human.source == "edited" and rec.status == "in_progress"
    rel.revert()
    assert loaded_human.source == "human" and rec.status == "unreviewed"


def test_stroke_previews_without_touching_the_dataset_then_one_step():
    ds = Dataset([Category(1, "c")])
    rec = ds.add_image("a.png", W, H)
    target = ds.add_instance(rec, Instance(1, ring(H, W, 30, 30, 12, 5)))
    other = ds.add_instance(rec, Instance(1, np.ones((10, 10), bool), (60, 40)))
    before, other_before = full(target), full(other)
    st = Stroke(rec, 3.0, False, target, [other], unoccupied=True)
    pts = [(10, 10), (40, 12), (65, 45)]
    for p in pts:
        st.add(*p)
    assert np.array_equal(full(target), before)  # only the preview changed
    preview = st.previews[id(target)]
    painted = np.zeros((H, W), bool)
    for a, b in zip(pts, pts[1:]):
        painted |= brute_capsule(a, b, 3.0, W, H)
    expected = before | (painted & ~other_before)
    assert np.array_equal(preview.full_mask(H, W), expected)
    edit = E.Edit("Brush stroke", st.finish() + [E.touch_status(rec)])
    edit.apply()
    assert np.array_equal(full(target), expected) and np.array_equal(full(other), other_before)
    edit.revert()
    assert np.array_equal(full(target), before) and rec.status == "unreviewed"


def test_eraser_to_nothing_removes_and_new_instance_inserts():
    ds = Dataset([Category(1, "c")])
    rec = ds.add_image("a.png", W, H)
    small = ds.add_instance(rec, Instance(1, np.ones((3, 3), bool), (20, 20)))
    st = Stroke(rec, 6.0, True, None, [small])
    st.add(21, 21)
    edit = E.Edit("Erase", st.finish())
    edit.apply()
    assert rec.instances == []
    edit.revert()
    assert rec.instances == [small] and small.mask.all()
    new = Instance(1, source="human")
    st = Stroke(rec, 2.0, False, new, [small], new=True)
    st.add(50, 50)
    edit = E.Edit("Brush", st.finish())
    edit.apply()
    assert rec.instances[-1] is new and new.mask.any() and new.source == "human"
    edit.revert()
    assert new not in rec.instances
    empty_click = Stroke(rec, 2.0, True, small, [])
    empty_click.add(70, 5)
    assert empty_click.finish() == []


def test_polygon_subtracts_a_hole_that_survives_a_save(tmp_path):
    ds = Dataset([Category(1, "c")], image_root=tmp_path)
    write_image(tmp_path / "a.png", H, W)
    rec = ds.add_image("a.png", W, H)
    inst = ds.add_instance(rec, Instance(1, np.ones((40, 40), bool), (10, 10)))
    hole = [(20, 20), (35, 20), (35, 35), (20, 35)]
    E.Edit("cut", polygon_ops(rec, inst, hole, True, [])).apply()
    expected = np.zeros((H, W), bool)
    expected[10:50, 10:50] = True
    expected &= ~brute_polygon(hole, W, H)
    assert np.array_equal(full(inst), expected)
    save_dataset(ds, tmp_path / "out.json")
    back = load_dataset(tmp_path / "out.json")
    assert np.array_equal(back.images[0].instances[0].full_mask(H, W), expected)


def test_random_edits_then_reverting_all_gives_back_the_file(tmp_path):
    ds = load_dataset(make_coco(tmp_path))
    first = json.dumps(dataset_json(ds)[0])
    rng = random.Random(3)
    done = []
    for _ in range(60):
        rec = rng.choice(ds.images)
        insts = rec.instances
        k = rng.random()
        if insts and k < 0.3:
            inst = rng.choice(insts)
            st = Stroke(rec, rng.uniform(1, 8), rng.random() < 0.4, inst,
                        [i for i in insts if i is not inst])
            for _ in range(rng.randint(1, 4)):
                st.add(rng.uniform(0, W), rng.uniform(0, H))
            edit = E.Edit("stroke", st.finish() + [E.touch_status(rec)])
        elif insts and k < 0.45:
            edit = E.delete_edit(rec, rng.sample(insts, 1))
        elif insts and k < 0.6:
            edit = E.review_edit(rec, [rng.choice(insts)], rng.choice(["accepted", "rejected"]))
        elif insts and k < 0.7:
            edit = E.relabel_edit(rec, [rng.choice(insts)], rng.choice([0, 3, 7]), "x")
        elif len(insts) > 1 and k < 0.8:
            edit = E.merge_edit(rec, rng.sample(insts, 2))
        elif k < 0.9:
            edit = E.status_edit(rec, rec.status != "done", list(insts))
        else:
            pts = [(rng.uniform(0, W), rng.uniform(0, H)) for _ in range(4)]
            new = Instance(0, source="human", id=ds.new_annotation_id())
            edit = E.Edit("polygon", polygon_ops(rec, new, pts, False, [], new=True))
        edit.apply()
        done.append(edit)
    for edit in reversed(done):
        edit.revert()
    assert json.dumps(dataset_json(ds)[0]) == first


def test_prediction_cache_round_trip_and_staleness(tmp_path):
    for k in range(2):
        write_image(tmp_path / f"{k}.png", H, W, seed=k)
    ds = Dataset([Category(1, "cat")], image_root=tmp_path)
    recs = [ds.add_image(f"{k}.png", W, H) for k in range(2)]
    mask = ring(H, W, 30, 30, 15, 6)
    p = E.predictions_edit(ds, recs[0], [Instance(3, mask, source="model", score=0.7,
                                                  model="m")], [Category(3, "dog")], "m")
    p.categories.apply()
    p.instances.apply()
    E.predictions_edit(ds, recs[1], [], [], "m").instances.apply()  # predicted: nothing found
    accepted = ds.add_instance(recs[1], Instance(1, mask, source="model", score=0.9,
                                                 review="accepted"))
    path = tmp_path / ".maskloop" / "x.predictions.json"
    write_cache(path, ds)
    fresh = Dataset([Category(1, "cat")], image_root=tmp_path)
    for k in range(2):
        fresh.add_image(f"{k}.png", W, H)
    cache = read_cache(path, fresh)
    assert [c.name for c in cache.categories] == ["dog"] and cache.skipped == 0
    (one, two) = cache.images
    assert one.model == "m" and len(one.instances) == 1 and two.instances == []
    got = one.instances[0]
    assert np.array_equal(got.full_mask(H, W), mask) and got.score == 0.7 and got.original is None
    assert accepted.review == "accepted"  # decisions are data, not cache
    os.utime(tmp_path / "1.png", ns=(1, 1))  # the image changed: its entry is stale
    assert read_cache(path, fresh).skipped == 1
    path.write_text("{not json")
    assert read_cache(path, fresh) is None
    E.predictions_edit(ds, recs[0], [], [], "m").instances.apply()
    recs[0].prediction_model = recs[1].prediction_model = None
    write_cache(path, ds)
    assert not path.exists()
