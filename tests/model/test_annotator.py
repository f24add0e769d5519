"""The simulated annotator (issue 20, section 1; issue 29, section 3) on small synthetic
cases."""
from __future__ import annotations

import numpy as np
import pytest

from model.data.annotations import Instance
from model.effort import annotator as A_
from model.effort import draw as D
from model.effort import glance as G
from model.effort.action_costs import (ACCEPT, BOX, CLICK, GLANCE, OBJECT, REJECT, REJECT_ALL,
                                  RELABEL, STROKE, VERTEX, Tally)
from model.effort.annotator import MAX_CORRECTION, simulate_image
from model.effort.matching import instance_iou, match
from model.effort.timings import seconds

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
    # the square is 4 vertices (4 actions) and the class change from the disc's class (1);
    # finding it is time, no action
    sq = e.per_instance[1]
    assert sq.how == "polygon" and sq.tally.gestures == {OBJECT: 1, VERTEX: 4, RELABEL: 1}
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
    assert e.per_instance[0].how == "box"
    assert e.per_instance[0].tally.gestures == {OBJECT: 1, BOX: 1}
    assert e.actions == 2


# ------------------------------------------------------------ issue 29: a careful person
def holed_square() -> tuple[Instance, Instance]:
    """A 40 px square and an offer of it with 25 separate 3x3 holes (IoU 0.86): eight
    strokes and an accept would fix it; four vertices draw it anew."""
    gt = square(20, 20, 60, 60)
    offer = gt.copy()
    for y in range(23, 58, 7):
        for x in range(23, 58, 7):
            offer[y:y + 3, x:x + 3] = False
    return Instance(1, gt), pred(1, offer)


def old_policy_actions(gt: Instance, offer: Instance, tau: float = 0.9) -> int:
    """What the policy before issue 29 spent on a matched offer it could fix within
    MAX_CORRECTION: it always corrected (strokes played to tau), then accepted."""
    rec = D.record(H, W)
    inst = offer.copy()
    rec.instances.append(inst)
    n, ok = D.correct(rec, inst, gt, tau, MAX_CORRECTION)
    assert ok and n + 1 <= MAX_CORRECTION  # so the old policy corrected it
    return n + 1


def test_rejecting_and_redrawing_wins_where_it_is_cheaper_in_seconds():
    gt, offer = holed_square()
    assert 0.5 <= instance_iou(gt, offer) < 0.9
    e = simulate_image([gt], [offer], H, W)
    (rec,) = e.per_instance
    assert rec.how == "redrawn" and rec.route == "polygon" and rec.offered == 0
    assert rec.tally.gestures == {REJECT: 1, OBJECT: 1, VERTEX: 4}
    assert e.actions == 5 and rec.iou == 1.0
    assert e.seconds == pytest.approx(seconds(rec.tally))
    old = old_policy_actions(gt, offer)
    assert old == 9 and old > e.actions
    # the glance that decided it: correcting costs more seconds than reject + redraw
    fix = G.correction(offer, gt, 0.9)
    assert fix.actions == old and fix.seconds > e.seconds


def test_a_correction_the_glance_misjudged_counts_its_strokes_then_redraws(monkeypatch):
    gt, offer = holed_square()
    optimistic = Tally()
    optimistic.add(ACCEPT)
    monkeypatch.setattr(A_.G, "correction", lambda o, g, tau: G.Estimate(optimistic, "correct"))
    monkeypatch.setattr(A_, "MAX_CORRECTION", 3)
    e = simulate_image([gt], [offer], H, W)
    (rec,) = e.per_instance
    assert rec.how == "redrawn"
    assert rec.tally.gestures == {STROKE: 3, REJECT: 1, OBJECT: 1, VERTEX: 4}


def test_an_images_useless_offers_go_in_one_reject_all():
    strays = [pred(1, square(0, 80, 10, 90)), pred(2, square(80, 80, 90, 90)),
              pred(1, square(0, 0, 8, 8))]
    e = simulate_image(truth(), [pred(1, disc()), pred(2, square())] + strays, H, W)
    assert [r.how for r in e.per_instance] == ["accepted", "accepted", "rejected", "rejected",
                                               "rejected", "reject_all"]
    bulk = e.per_instance[-1]
    assert bulk.tally.gestures == {REJECT_ALL: 1, GLANCE: 3} and bulk.actions == 1
    assert all(r.actions == 0 for r in e.per_instance if r.how == "rejected")
    assert e.actions == 2 + 1  # one by one it was 2 + 3
    one_by_one = Tally()
    one_by_one.add(REJECT, 3)
    assert seconds(bulk.tally) < seconds(one_by_one)


def test_a_given_up_offer_is_rejected_with_the_strays():
    gt, offer = holed_square()
    e = simulate_image([gt], [offer, pred(1, square(0, 80, 10, 90))], H, W)
    hows = {r.how: r for r in e.per_instance}
    assert set(hows) == {"redrawn", "rejected", "reject_all"}
    assert hows["redrawn"].tally.gestures == {OBJECT: 1, VERTEX: 4}  # its reject: the bulk one
    assert hows["reject_all"].tally.gestures == {REJECT_ALL: 1, GLANCE: 2}


class FakeAssist:
    """The predictor's assist interface (model.net.predictor.Predictor), scripted: the
    box route answers the inscribed ellipse; the candidates are given."""
    supports_assist = True

    def __init__(self, candidates):
        self.candidates = candidates
        self.calls = 0

    def assist_boxes(self, image, image_id, boxes, category_ids, cache):
        from model.net.assist import BoxMask, ellipse
        return [BoxMask(*ellipse(b, W, H), None, 0.5) for b in boxes]

    def assist_candidates(self, image, image_id, cache):
        self.calls += 1
        return list(self.candidates)


def test_click_to_instance_takes_the_candidate_cheapest_to_finish():
    from model.effort.routes import model_routes
    specked = disc().copy()
    specked[(XX % 4 >= 2) & (YY % 4 >= 2)] = False  # the top candidate: holes everywhere
    assert specked[48, 40]  # ... but not at the disc's centre, where the click goes
    exact = Instance(2, disc(), score=0.5, source="model", model="m")  # right mask, wrong class
    fake = FakeAssist([Instance(1, specked, score=0.9, source="model", model="m"), exact])
    box_to_mask, candidates = model_routes(fake)
    gts = [Instance(1, disc()), Instance(2, square())]  # no candidate covers the square
    e = simulate_image(gts, [], H, W, box_to_mask=box_to_mask, candidates=candidates,
                       image=np.zeros((H, W, 3), np.uint8))
    first, second = e.per_instance
    # a click offers the specked one (best score), a Tab the exact one: 2 clicks, then
    # its class changed and accepted
    assert first.how == "click" and first.route == "click"
    assert first.tally.gestures == {OBJECT: 1, CLICK: 2, RELABEL: 1, ACCEPT: 1}
    assert np.array_equal(e.final[0].full_mask(H, W), disc()) and e.final[0].category_id == 1
    assert second.how == "polygon"  # the click route offers nothing there
    assert fake.calls == 1  # the candidates of an image are asked once
    assert exact.category_id == 2  # the candidates are never changed
