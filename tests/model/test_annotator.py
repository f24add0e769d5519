"""The simulated annotator (issue 20, section 1) on small synthetic cases."""
from __future__ import annotations

import numpy as np
import pytest

from model.data.annotations import Instance
from model.effort.actions import ACCEPT, BOX, REJECT, RELABEL, STROKE, VERTEX
from model.effort.annotator import simulate_image
from model.effort.matching import instance_iou, match

H = W = 96
YY, XX = np.mgrid[:H, :W]


def disc(cx=40, cy=48, r=20) -> np.ndarray:
    return (XX - cx) ** 2 + (YY - cy) ** 2 <= r * r


def square(x0=60, y0=8, x1=90, y1=30) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def truth() -> list[Instance]:
    return [Instance(1, disc()), Instance(2, square())]


def pred(cat: int, mask: np.ndarray) -> Instance:
    return Instance(cat, mask, score=0.9, source="model")


def test_a_perfect_prediction_costs_one_action_each():
    e = simulate_image(truth(), [pred(1, disc()), pred(2, square())], H, W)
    assert [r.actions for r in e.per_instance] == [1, 1]
    assert [r.how for r in e.per_instance] == ["accepted", "accepted"]
    assert e.actions == 2 and e.tally.gestures == {ACCEPT: 2}


def test_no_prediction_costs_the_no_model_cost():
    e = simulate_image(truth(), [], H, W)
    # every object drawn, by box (2 + strokes) or polygon (vertices), whichever is cheaper
    assert {r.how for r in e.per_instance} <= {"box", "polygon"}
    assert e.tally.gestures.get(ACCEPT, 0) == 0
    per = [r.actions for r in e.per_instance]
    assert all(a >= 2 for a in per)
    # the square is 4 vertices (4 actions) and the class change from the disc's class (1)
    sq = e.per_instance[1]
    assert sq.how == "polygon" and sq.tally.gestures == {VERTEX: 4, RELABEL: 1}
    assert e.actions == sum(per) and e.actions > 2


def test_a_bite_out_costs_one_plus_strokes():
    bitten = disc() & ~((XX > 44) & (YY > 36) & (YY < 58))
    assert instance_iou(Instance(1, bitten), Instance(1, disc())) < 0.9
    e = simulate_image(truth(), [pred(1, bitten), pred(2, square())], H, W)
    rec = e.per_instance[0]
    assert rec.how == "corrected"
    strokes = rec.tally.gestures[STROKE]
    assert 1 <= strokes <= 3
    assert rec.actions == 1 + strokes
    assert rec.iou >= 0.9


def test_an_eroded_outline_is_one_stroke():
    eroded = disc(r=17)
    e = simulate_image([Instance(1, disc())], [pred(1, eroded)], H, W)
    assert e.per_instance[0].tally.gestures == {STROKE: 1, ACCEPT: 1}


@pytest.mark.parametrize("tau", [0.9, 0.85, 0.95])
def test_every_final_mask_reaches_tau(tau):
    rng = np.random.default_rng(3)
    gts = [Instance(1, disc()), Instance(2, square()), Instance(1, disc(75, 70, 12)),
           Instance(2, square(5, 75, 30, 92))]
    noisy = []
    for g in gts[:3]:
        m = g.full_mask(H, W) ^ (rng.random((H, W)) < 0.02)  # salt and pepper
        m[:, :8] = False
        noisy.append(pred(g.category_id, m))
    e = simulate_image(gts, noisy + [pred(1, square(0, 0, 6, 6))], H, W, iou=tau)
    assert len(e.final) == len(gts)
    for f, g in zip(e.final, gts):
        assert instance_iou(f, g) >= tau
        assert f.category_id == g.category_id
    assert all(r.iou >= tau for r in e.per_instance if r.truth is not None)


def test_the_same_input_gives_the_same_count():
    bitten = disc() & ~((XX > 44) & (YY > 36) & (YY < 58))
    runs = [simulate_image(truth(), [pred(2, bitten)], H, W) for _ in range(3)]
    assert len({r.actions for r in runs}) == 1
    assert len({tuple(sorted(r.tally.gestures.items())) for r in runs}) == 1
    assert all(np.array_equal(a.full_mask(H, W), b.full_mask(H, W))
               for a, b in zip(runs[0].final, runs[1].final))


def test_wrong_class_is_relabelled_then_accepted():
    e = simulate_image(truth(), [pred(2, disc()), pred(2, square())], H, W)
    assert e.per_instance[0].tally.gestures == {RELABEL: 1, ACCEPT: 1}
    assert e.final[0].category_id == 1


def test_an_unmatched_prediction_is_rejected():
    stray = square(0, 80, 10, 90)
    e = simulate_image(truth(), [pred(1, disc()), pred(2, square()), pred(1, stray)], H, W)
    rejected = [r for r in e.per_instance if r.how == "rejected"]
    assert len(rejected) == 1 and rejected[0].offered == 2
    assert rejected[0].tally.gestures == {REJECT: 1}
    assert e.actions == 3


def test_a_hopeless_prediction_is_drawn_anew():
    # half the object, the other half an archipelago of specks: > 20 strokes to fix
    m = disc().copy()
    m[(XX % 4 == 0) & (YY % 4 == 0) & ~disc()] = True
    gts = [Instance(1, disc())]
    assert match(gts, [pred(1, m)])[0] == {0: 0}
    e = simulate_image(gts, [pred(1, m)], H, W)
    rec = e.per_instance[0]
    assert rec.how == "redrawn" and rec.tally.gestures[REJECT] == 1
    assert rec.route in ("box", "polygon") and rec.iou >= 0.9


def test_the_offered_instances_are_not_changed():
    bitten = disc() & ~((XX > 44) & (YY > 36) & (YY < 58))
    p = pred(2, bitten)
    simulate_image(truth(), [p], H, W)
    assert p.category_id == 2 and np.array_equal(p.full_mask(H, W), bitten)


def test_matching_is_one_to_one_by_mask_iou():
    gts = truth()
    got, ious = match(gts, [pred(1, square()), pred(1, disc()), pred(1, disc(41))])
    assert got == {0: 1, 1: 0}
    assert ious.shape == (2, 3)


def test_a_box_route_is_used_as_given():
    calls = []

    def route(image, box):
        calls.append(box)
        return disc(), (0, 0)  # the model's mask: exactly the object
    e = simulate_image([Instance(1, disc())], [], H, W, box_to_mask=route)
    assert calls == [(20.0, 28.0, 61.0, 69.0)]
    assert e.per_instance[0].how == "box" and e.per_instance[0].tally.gestures == {BOX: 1}
    assert e.actions == 2
