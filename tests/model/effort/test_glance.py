"""The glance (model/effort/glance.py): what correcting or drawing costs, estimated
without playing it, on shapes whose answer is known."""
import numpy as np

from model.data.annotations import Instance
from model.effort import glance as G
from model.effort.draw import by_polygon as draw_by_polygon
from model.net import assist as A


def inst(mask, offset=(0, 0), cat=1):
    return Instance(cat, np.asarray(mask, bool), offset)


def square(n, at=(10, 10), cat=1):
    return inst(np.ones((n, n), bool), at, cat)


def test_an_exact_offer_costs_one_accept_and_a_wrong_class_one_more():
    gt = square(20)
    assert G.correction(square(20), gt, 0.9).tally.by_kind()["accept"] == 1
    assert G.correction(square(20), gt, 0.9).actions == 1
    assert G.correction(square(20, cat=2), gt, 0.9).actions == 2


def test_each_blob_that_keeps_iou_below_tau_is_one_stroke():
    gt = square(20)
    m = np.ones((20, 20), bool)
    m[:8, :8] = False  # one missing corner of 64 px: IoU 336/400 = 0.84
    m[12:, 12:] = False  # a second one: IoU 272/400
    est = G.correction(inst(m, (10, 10)), gt, 0.9)
    assert est.tally.by_kind()["stroke"] == 2
    m2 = np.ones((20, 20), bool)
    m2[:8, :8] = False
    m2[19, 19] = False  # one pixel: fixing the big blob alone reaches 0.9
    assert G.correction(inst(m2, (10, 10)), gt, 0.9).tally.by_kind()["stroke"] == 1


def test_a_hopeless_offer_is_seen_as_such():
    grid = np.zeros((50, 50), bool)
    for y in range(0, 50, 5):
        for x in range(0, 50, 5):
            grid[y:y + 3, x:x + 3] = True  # 100 separate specks
    offer = np.zeros((50, 50), bool)
    offer[:3, :3] = True  # covers one of them
    assert G.correction(inst(offer, (10, 10)), inst(grid, (10, 10)), 0.9) is None


def test_the_polygon_estimate_counts_what_the_polygon_route_draws():
    ring = np.ones((30, 30), bool)
    ring[10:20, 10:20] = False  # a hole of 100 px in 900: needed for IoU 0.9
    two = np.zeros((30, 60), bool)
    two[:, :25] = True
    two[5:25, 40:60] = True  # two parts
    for m in (np.ones((12, 12), bool), ring, two):
        gt = inst(m, (5, 5))
        _i, played = draw_by_polygon(gt, 100, 100, 0.9)
        assert G.polygon(gt, 0.9).actions == played.actions


def test_drawing_takes_the_cheaper_route_in_seconds():
    yy, xx = np.mgrid[:41, :41]
    disc = (xx - 20) ** 2 + (yy - 20) ** 2 <= 400
    gt = inst(disc, (10, 10))
    est = G.drawing(gt, 0.9, lambda b: (disc, (10, 10)))  # the box route answers exactly
    assert est.route == "box" and est.actions == 2  # a 25.5 s drag beats ~40 vertices
    assert G.drawing(gt, 0.9).route == "polygon"
    # a square is 4 vertices: cheaper than the corner drag, even one answered exactly
    sq = square(20)
    assert G.drawing(sq, 0.9, lambda b: A.box_fill(b, 100, 100)).route == "polygon"


def test_the_click_estimate_takes_the_candidate_cheapest_to_finish():
    gt = square(20)
    poor = inst(np.ones((30, 30), bool), (5, 5), cat=1)  # covers it, 500 px too many
    poor.score = 0.9
    good = square(20, cat=2)  # exact, wrong class
    good.score = 0.4
    est = G.click(gt, 0.9, [good, poor])
    assert G.interior_pixel(gt) in ((19, 19), (20, 20), (19, 20), (20, 19))
    assert est.route == "click" and est.candidate is good
    # the first click offers the best score (poor), a Tab the exact one
    assert est.tally.counts() == {"accept": 1, "relabel": 1, "click": 2, "object": 1}
    assert G.click(gt, 0.9, [square(5, at=(60, 60))]) is None  # nothing under the click
    assert G.drawing(gt, 0.9, candidates=[good, poor]).route == "click"


def test_experience_scales_the_glance_until_a_route_that_kept_costing_more_loses():
    gt = square(20)
    cut = np.ones((20, 20), bool)
    cut[:, 14:] = False  # a candidate missing a slice: one blob, one stroke at a glance
    cand = inst(cut, (10, 10))
    cand.score = 0.9
    fresh = G.Experience()
    first = G.drawing(gt, 0.9, candidates=[cand], experience=fresh)
    assert first.route == "click" and first.strokes == 1  # beats the square's 4 vertices
    # the clicks it chose took 8 strokes each time, not 1: the glance learns it
    for _ in range(3):
        fresh.record(first, 8)
    assert fresh.factor("click") == (24 + G.PRIOR) / (3 + G.PRIOR)
    assert fresh.factor("correct") == fresh.factor("click")  # a model's mask either way
    assert fresh.factor("polygon") == 1.0
    judged = fresh.scaled(first)
    assert judged.strokes == 4 and judged.glanced == 1
    assert G.drawing(gt, 0.9, candidates=[cand], experience=fresh).route == "polygon"
    # an offer's correction is judged with the same experience
    assert fresh.scaled(G.correction(cand, gt, 0.9)).strokes == 4
