"""The simulated annotator (issues 20 and 29): a careful person's policy, played with
MaskLoop's real edit operations (draw.py), counting the actions (action_costs.py) and the
seconds (timings.py) it takes to bring one image to the ground truth.

The policy (deterministic: the same input gives the same count):

1. Match what the tool offers (predictions) to the ground truth by mask IoU, one to
   one, greedily, best IoU first (matching.py; a pair needs IoU >= 0.5). Crowd regions
   of the ground truth are neither matched nor drawn.
2. A matched offer: the person judges at a glance (glance.py, below) what correcting it
   would cost (a class change if its class is wrong, a stroke per wrong blob, the
   accept) and what rejecting it and drawing the object anew would (a reject, the
   cheapest drawing route, a class change if the class for new objects must change),
   and takes the cheaper in seconds (ties: actions, then correcting). Only the chosen
   route is played. A played correction that runs past 20 actions (MAX_CORRECTION:
   the glance misjudged it) is given up: its strokes count, and the offer is rejected
   and the object drawn anew.
3. An offer that matches nothing is rejected.
4. Rejects: every offer still to reject on the image (step 3, and the matched offers
   given up for a redraw) goes either one by one (a reject each) or in one gesture,
   Shift+R, *Reject all unreviewed on this image* (1 action, and a glance at each
   offer it takes), whichever costs fewer seconds (ties: actions). The app has the
   same gesture; the offers to keep are accepted or corrected first.
5. A missed object is drawn by the cheapest route at a glance, then played:
   - polygon: the outline simplified at 1 px (the vertex tool's rings), one vertex an
     action, rasterised by the polygon tool's own code; parts largest first and holes
     largest first only while IoU < tau, then strokes if still below;
   - box: one drag on the object's bounding box (2) gives a mask from the box -> mask
     route (the model's heads, or the classical fallback, the inscribed ellipse), then
     strokes until IoU >= tau;
   - click (with a model): click -> instance as the GUI's click tool: a click on the
     object's most interior pixel offers the best candidate covering it
     (model.net.assist.candidates/covering on the image's cached features); a Tab to
     the next costs a click; the candidate taken is accepted, its class changed if
     wrong, then strokes.
   Each starts with finding the object (`object`: seconds, no action). The class for
   new objects drawn by polygon or box stays what it was for the previous one drawn on
   the image (the GUI keeps it); a different one costs a class change (1); the first
   object drawn on an image takes its class free. A click takes the model's class.
6. Navigation (next instance, next image, mark done) is not counted, as in the
   interactive-segmentation protocols (NoC@90).

The glance: a person who looks at an offer over its object sees its wrong blobs (the
ground truth XOR the offer, 8-connected) and how intricate the outline is. Correcting
is estimated as one stroke per blob, largest first, until the blobs fixed would bring
IoU to tau; drawing as the polygon's vertices (by area, parts then holes), the box's
drag plus the blobs of its mask, or the clicks plus the blobs of the candidate taken.
These are estimates, not plays: a person does not try both routes to find out.

Every final mask reaches tau against its ground truth (the stroke loop fixes at least
one pixel per stroke, so it always ends there).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model.data.annotations import Instance
from model.effort import draw as D
from model.effort import glance as G
from model.effort.action_costs import (ACCEPT, CLICK, GLANCE, REJECT, REJECT_ALL, RELABEL, STROKE,
                                  Tally)
from model.effort.draw import Box, BoxToMask, Candidates, classical_box_to_mask  # noqa: F401
from model.effort.matching import instance_iou, match
from model.effort.timings import seconds

TAU = 0.9
ALSO_TAU = 0.85  # the second threshold the issue asks to report
MAX_CORRECTION = 20  # a played correction past this many actions is given up
HOWS = ("accepted", "corrected", "redrawn", "box", "polygon", "click", "rejected",
        "reject_all")


@dataclass
class InstanceEffort:
    """What one ground-truth object, one rejected offer or one reject-all cost, and how."""
    how: str  # one of HOWS
    truth: int | None  # index in the image's truth list (None: a rejected offer)
    offered: int | None  # index in the offered list (None: drawn without an offer)
    tally: Tally
    iou_offered: float | None = None  # the offer's IoU with its object
    iou: float | None = None  # the final mask's IoU with its object
    route: str | None = None  # box, polygon or click, for a drawn object

    @property
    def actions(self) -> int:
        return self.tally.actions

    def to_json(self) -> dict:
        return {"how": self.how, "truth": self.truth, "offered": self.offered,
                "actions": self.actions, "by_kind": self.tally.by_kind(),
                "seconds": round(seconds(self.tally), 2), "iou_offered": self.iou_offered,
                "iou": self.iou, "route": self.route}


@dataclass
class ImageEffort:
    tally: Tally = field(default_factory=Tally)
    per_instance: list[InstanceEffort] = field(default_factory=list)
    final: list[Instance] = field(default_factory=list)  # in truth order, crowds left out
    instances: int = 0  # ground-truth objects (crowd regions left out)

    @property
    def actions(self) -> int:
        return self.tally.actions

    @property
    def seconds(self) -> float:
        return seconds(self.tally)


def cheaper(a: Tally, b: Tally) -> bool:
    """a costs fewer seconds than b (ties: fewer actions)."""
    return (seconds(a), a.actions) < (seconds(b), b.actions)


class Drawer:
    """Drawing on one image: the cheapest route at a glance, then played."""

    def __init__(self, height: int, width: int, tau: float, image: np.ndarray | None,
                 box_to_mask: BoxToMask | None, candidates: Candidates | None):
        self.height, self.width, self.tau, self.image = height, width, tau, image
        self._route = box_to_mask
        self._candidates_of = candidates
        self._candidates: list[Instance] | None = None
        self._masks: dict[Box, tuple] = {}  # the box route's answer, asked once a box
        self._estimates: dict[int, G.Estimate] = {}  # id(object) -> its drawing estimate

    def box_mask(self, image, box: Box):
        if box not in self._masks:
            self._masks[box] = (self._route(image, box) if self._route is not None else
                                classical_box_to_mask(image, box, self.height, self.width))
        return self._masks[box]

    def candidates(self) -> list[Instance]:
        if self._candidates is None:
            self._candidates = (list(self._candidates_of(self.image))
                                if self._candidates_of is not None else [])
        return self._candidates

    def estimate(self, gt: Instance) -> G.Estimate:
        if id(gt) not in self._estimates:
            self._estimates[id(gt)] = G.drawing(
                gt, self.tau, lambda b: self.box_mask(self.image, b), self.candidates())
        return self._estimates[id(gt)]

    def play(self, gt: Instance, est: G.Estimate) -> tuple[Instance, Tally]:
        if est.route == "click":
            return D.by_click(gt, self.height, self.width, self.tau, est.candidate,
                              est.tally.gestures[CLICK])
        if est.route == "box":
            return D.by_box(gt, self.height, self.width, self.tau, self.image, self.box_mask)
        return D.by_polygon(gt, self.height, self.width, self.tau)


def simulate_image(truth: list[Instance], offered: list[Instance], height: int, width: int,
                   *, iou: float = TAU, box_to_mask: BoxToMask | None = None,
                   image: np.ndarray | None = None,
                   candidates: Candidates | None = None) -> ImageEffort:
    """Play the policy (module docstring) on one image. `offered` is never changed.

    box_to_mask(image, box) -> (mask, offset): the tool's box -> mask route (see
    model.effort.routes.model_box_to_mask); None uses the classical fallback.
    candidates(image) -> the model's detections for click -> instance (routes.py's
    model_candidates); None: no click route. `image` (HxWx3 RGB) is passed to both;
    the fallback needs none.
    """
    if not 0.0 < iou <= 1.0:
        raise ValueError(f"iou must be in (0, 1], got {iou}")
    gts = [(k, g) for k, g in enumerate(truth) if not g.iscrowd and g.mask.any()]
    offers = [o for o in offered if not o.iscrowd and o.mask.any()]
    offer_index = [k for k, o in enumerate(offered) if not o.iscrowd and o.mask.any()]
    pairs, ious = match([g for _k, g in gts], offers)
    drawer = Drawer(height, width, iou, image, box_to_mask, candidates)
    out = ImageEffort(instances=len(gts))
    finals: dict[int, Instance] = {}
    drawn_class: list[int | None] = [None]
    rejects: list[InstanceEffort] = []  # the records each needing a reject

    def class_change(gt: Instance, est: G.Estimate) -> bool:
        return est.route != "click" and drawn_class[0] not in (None, gt.category_id)

    def draw(j: int, gt: Instance, offered_ix: int | None, spent: Tally,
             iou_offered: float | None) -> InstanceEffort:
        est = drawer.estimate(gt)
        inst, tally = drawer.play(gt, est)
        if est.route != "click":
            if class_change(gt, est):
                tally.add(RELABEL)
            drawn_class[0] = gt.category_id
        spent += tally
        finals[j] = inst
        r = InstanceEffort("redrawn" if offered_ix is not None else est.route, gts[j][0],
                           offered_ix, spent, iou_offered, instance_iou(inst, gt), est.route)
        out.per_instance.append(r)
        return r

    for j, (k, gt) in enumerate(gts):
        if j not in pairs:
            continue
        p = pairs[j]
        before = float(ious[j, p])
        fix = G.correction(offers[p], gt, iou)
        anew = drawer.estimate(gt)
        redraw = anew.tally.copy()
        redraw.add(REJECT)
        if class_change(gt, anew):
            redraw.add(RELABEL)
        if fix is None or cheaper(redraw, fix.tally):
            rejects.append(draw(j, gt, offer_index[p], Tally(), before))
            continue
        rec = D.record(height, width)
        inst = offers[p].copy()
        rec.instances.append(inst)
        tally = Tally()
        if inst.category_id != gt.category_id:
            inst.category_id = gt.category_id  # relabel_edit's effect on the class
            tally.add(RELABEL)
        n, ok = D.correct(rec, inst, gt, iou, MAX_CORRECTION - tally.actions)
        if n:
            tally.add(STROKE, n)
        if not ok:  # the glance misjudged it: what was spent counts, then a redraw
            rejects.append(draw(j, gt, offer_index[p], tally, before))
            continue
        tally.add(ACCEPT)
        finals[j] = inst
        out.per_instance.append(InstanceEffort("corrected" if n else "accepted", k,
                                               offer_index[p], tally, before,
                                               instance_iou(inst, gt)))
    matched = set(pairs.values())
    for p, k in enumerate(offer_index):
        if p not in matched:
            r = InstanceEffort("rejected", None, k, Tally())
            out.per_instance.append(r)
            rejects.append(r)
    one_by_one, at_once = Tally(), Tally()
    one_by_one.add(REJECT, len(rejects))
    at_once.add(REJECT_ALL)
    at_once.add(GLANCE, len(rejects))
    if rejects and cheaper(at_once, one_by_one):
        out.per_instance.append(InstanceEffort("reject_all", None, None, at_once))
    else:
        for r in rejects:
            r.tally.add(REJECT)
    for j, (_k, gt) in enumerate(gts):
        if j not in pairs:
            draw(j, gt, None, Tally(), None)
    for rec_ in out.per_instance:
        out.tally += rec_.tally
    out.final = [finals[j] for j in range(len(gts))]
    for f, (_k, gt) in zip(out.final, gts):
        f.category_id = gt.category_id
    return out
