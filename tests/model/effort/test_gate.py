"""The offer gate (model/effort/gate.py): records priced counterfactually against the
final annotations, the fitted threshold, hiding, the cautious default; and the box
route's choice (model/effort/box_route.py, routes.GatedBoxRoute)."""
import numpy as np
import pytest

from model.data.annotations import Instance
from model.effort import box_route as R
from model.effort import gate as G
from model.effort import glance
from model.effort.action_costs import REJECT, Tally
from model.effort.routes import GatedBoxRoute
from model.effort.timings import seconds
from model.net import assist as A


def rec(score, seconds_, actions=None, version="v1"):
    a = actions if actions is not None else (1 if seconds_ > 0 else -1)
    return G.Record(score, version, a, seconds_)


def square(n, at=(10, 10), cat=1, score=None):
    return Instance(cat, np.ones((n, n), bool), at, score=score,
                    source="model" if score is not None else "human")


# --------------------------------------------------------------------------- fit

def test_the_threshold_is_the_known_optimum_of_a_synthetic_record():
    # 40 offers: above 0.6 each saves 5 s, at or below it each costs 2 s; the summed
    # benefit is largest when exactly the offers scoring above 0.6 are shown
    scores = np.linspace(0.99, 0.2, 40)
    records = [rec(float(s), 5.0 if s > 0.6 else -2.0) for s in scores]
    d = G.fit(records, "v1")
    lowest_good = min(s for s in scores if s > 0.6)
    highest_bad = max(s for s in scores if s <= 0.6)
    assert d.fitted and not d.hidden
    assert d.threshold == pytest.approx((lowest_good + highest_bad) / 2)  # between the two
    assert d.shown == sum(1 for s in scores if s > 0.6) and d.count == 40
    assert d.per_offer_seconds == pytest.approx(5.0)
    # a record of another version is not this version's evidence
    d2 = G.fit(records + [rec(0.3, 500.0, version="v2")] * 40, "v1")
    assert d2.threshold == d.threshold


def test_a_threshold_must_not_cost_actions_either():
    # the top offers save seconds but cost actions; below them offers save both
    records = [rec(0.9 - k * 0.01, 3.0, -1) for k in range(20)] + \
              [rec(0.5 - k * 0.01, 1.0, 2) for k in range(20)]
    d = G.fit(records, "v1")
    assert d.threshold == pytest.approx(0.5 - 19 * 0.01)  # all: +80 s, +20 actions
    only_top = [rec(0.9 - k * 0.01, 3.0, -1) for k in range(35)]
    assert G.fit(only_top, "v1").hidden  # seconds pay, actions never do


def test_nothing_pays_hides_the_offers_and_says_the_best_it_found():
    records = [rec(0.95 - k * 0.02, -1.6 if k else -0.5) for k in range(40)]
    d = G.fit(records, "v1")
    assert d.hidden and d.threshold is None and d.fitted
    assert d.best == pytest.approx(0.94)  # the least bad: the one offer at -0.5 s
    assert d.per_offer_seconds == pytest.approx(-0.5) and d.count == 40
    line = d.line()
    assert line.startswith("Offers hidden: no threshold pays on 40 judged offers")
    assert "best: 0.94" in line


def test_fewer_than_30_records_give_the_cautious_default_with_the_estimate():
    records = [rec(0.9, 4.0), rec(0.8, -1.6), rec(0.75, 2.0), rec(0.3, -1.6)]
    d = G.fit(records, "v1")
    assert not d.fitted and d.threshold == G.DEFAULT_THRESHOLD == 0.7
    assert d.count == 4 and d.shown == 3
    assert d.per_offer_seconds == pytest.approx((4.0 - 1.6 + 2.0) / 3)
    assert "default 0.70" in d.line() and "4 of the 30" in d.line()
    # even when they all cost: too few to hide on
    assert not G.fit([rec(0.9, -1.6)] * 29, "v1").hidden
    assert G.fit([rec(0.9, -1.6)] * 30, "v1").hidden
    empty = G.fit([], "v1")
    assert empty.threshold == 0.7 and empty.per_offer_seconds is None
    assert "no estimate yet" in empty.line()


# ----------------------------------------------------------------------- pricing

def test_a_matched_offer_is_worth_the_drawing_it_saves_minus_its_review():
    truth = [square(20)]
    exact = square(20, score=0.9)
    dented = Instance(1, np.ones((20, 20), bool), (10, 10), score=0.8, source="model")
    m = np.ones((20, 20), bool)
    m[:8, :8] = False  # a missing corner: IoU 0.84, one stroke
    dented = Instance(1, m, (10, 10), score=0.8, source="model")
    (r_exact,) = G.price([exact], truth, "v1", 0.9)
    (r_dent,) = G.price([dented], truth, "v1", 0.9)
    draw = glance.drawing(truth[0], 0.9)
    assert r_exact.matched and r_exact.score == 0.9 and r_exact.version == "v1"
    assert r_exact.benefit_actions == draw.actions - 1  # an accept instead of the drawing
    accept = Tally()
    accept.add("accept")
    assert r_exact.benefit_seconds == pytest.approx(draw.seconds - seconds(accept))
    corr = glance.correction(dented, truth[0], 0.9)
    assert corr.actions == 2  # a stroke and the accept
    assert r_dent.benefit_actions == draw.actions - corr.actions
    assert r_dent.benefit_seconds == pytest.approx(draw.seconds - corr.seconds)


def test_an_unmatched_offer_costs_its_reject_and_a_hopeless_one_no_more():
    truth = [square(20)]
    far = square(12, at=(60, 60), score=0.7)
    (r,) = G.price([far], truth, "v1", 0.9)
    t = Tally()
    t.add(REJECT)
    assert not r.matched and r.benefit_actions == -1
    assert r.benefit_seconds == pytest.approx(-seconds(t))
    # matched at IoU >= 0.5, but correcting it costs more than rejecting and drawing
    # anew: a careful person rejects and redraws, so it costs exactly the reject
    holed = np.ones((40, 40), bool)
    for y in range(4, 40, 10):
        for x in range(4, 40, 10):
            holed[y:y + 4, x:x + 4] = False  # 16 holes: IoU 0.84, six strokes to 0.9
    offer = Instance(1, holed, (10, 10), score=0.6, source="model")
    speckled = square(40)
    corr = glance.correction(offer, speckled, 0.9)
    assert corr.tally.by_kind()["stroke"] == 6
    assert corr.seconds > seconds(t) + glance.drawing(speckled, 0.9).seconds
    (h,) = G.price([offer], [speckled], "v1", 0.9)
    assert h.matched and h.benefit_actions == -1
    assert h.benefit_seconds == pytest.approx(-seconds(t))
    # two offers on one object: the better one is matched, the other is a reject
    a, b = G.price([square(20, score=0.9), square(19, score=0.95)], truth, "v1", 0.9)
    assert a.matched and not b.matched and b.benefit_actions == -1


def test_the_online_gate_offers_what_the_images_before_it_say():
    gate = G.OnlineGate("v1", min_records=3)
    preds = [square(20, score=0.9), square(12, at=(60, 60), score=0.8)]
    assert gate.decision.threshold == 0.7 and len(gate.offered(preds)) == 2
    truth = [square(20)]
    for _ in range(2):
        gate.learn(preds, truth)
    assert gate.decision.fitted and gate.decision.threshold == pytest.approx(0.85)
    assert gate.offered(preds) == [preds[0]]
    junk = G.OnlineGate("v1", min_records=3)
    for _ in range(2):
        junk.learn([square(12, at=(60, 60), score=0.9)] * 2, truth)
    assert junk.decision.hidden and junk.offered(preds) == []


# --------------------------------------------------------------------- box route

def test_the_box_route_asks_the_model_only_while_it_beats_the_classical_route():
    H = W = 120
    squares = [square(24, at=(10 + 30 * k, 20)) for k in range(3)]

    def filled(boxes):  # a model whose mask from a box is the box: exact on squares
        return [A.box_fill(b, W, H) for b in boxes]

    def ellipse(b):
        return A.ellipse(b, W, H)

    pairs = R.compare(squares, filled, ellipse)
    assert len(pairs) == 3 and all(m == pytest.approx(1.0) and c < 0.85 for m, c in pairs)
    score = R.RouteScore().add(pairs)
    assert not R.use_model(score)  # 3 objects: too few to say
    score.add(R.compare(squares[:2], filled, ellipse))
    assert R.use_model(score) and score.to_json()["uses_model"]
    worse = R.RouteScore().add(R.compare(squares * 2, lambda bs: [
        (np.ones((3, 3), bool), (int(b[0]), int(b[1]))) for b in bs], ellipse))
    assert worse.objects == 6 and not R.use_model(worse)


class FakeBoxModel:
    """Stands in for the Predictor's heads: the box filled, counted."""

    def __init__(self):
        self.calls = 0

    def __call__(self, image, boxes):
        self.calls += 1
        h, w = image.shape[:2]
        return [A.box_fill(b, w, h) for b in boxes]


def test_the_annotators_gated_box_route_learns_from_each_image():
    image = np.zeros((100, 100, 3), np.uint8)
    route = GatedBoxRoute(FakeBoxModel())
    box = (10.0, 10.0, 34.0, 34.0)
    m, off = route(image, box)
    assert np.array_equal(m, A.ellipse(box, 100, 100)[0])  # no evidence yet: classical
    route.learn(image, [square(24, at=(10 + 28 * (k % 3), 10 + 28 * (k // 3)))
                        for k in range(6)])
    assert route.uses_model
    m, off = route(image, box)
    assert m.all() and m.shape == (24, 24) and off == (10, 10)  # the model's filled box


def test_offers_hidden_mean_no_click_for_the_same_models_candidates(tmp_path):
    from model.data.annotations import Category, Dataset
    from model.effort.dataset import simulate_dataset
    from tests.helpers import write_image

    def dataset():
        ds = Dataset([Category(1, "obj")], image_root=tmp_path)
        for k in range(2):
            write_image(tmp_path / f"{k}.png", 100, 100, k)
            ds.add_instance(ds.add_image(f"{k}.png", 100, 100), square(20))
        return ds

    def clicks(image):  # the model's candidates: exact, so a click beats the polygon
        return [square(20, score=0.9)]

    def routes(gate):
        e = simulate_dataset(dataset(), None, candidates=clicks, gate=gate)
        return [i.route for r in e.per_image for i in r.effort.per_instance]

    assert routes(G.OnlineGate("v1", min_records=3)) == ["click", "click"]
    junk = G.OnlineGate("v1", min_records=3)
    for _ in range(2):
        junk.learn([square(12, at=(60, 60), score=0.9)] * 2, [square(20)])
    assert junk.decision.hidden
    assert routes(junk) == ["polygon", "polygon"]  # told the model does not pay: drawn
