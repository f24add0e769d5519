"""Seconds from actions: published per-action timings, for an estimate beside the
action count (actions stay the primary figure; README "Simulated annotator" names the
sources).

- accept, reject, class change: 1.6 s, a yes/no verification of one box
  (Papadopoulos et al., "We don't need no bounding-boxes", CVPR 2016).
- a box: 7.0 s by extreme clicking (Papadopoulos et al., "Extreme clicking for
  efficient object annotation", ICCV 2017); a box is 2 actions, so 3.5 s each.
- a polygon vertex: 79.2 s per COCO polygon instance (Lin et al., "Microsoft COCO",
  ECCV 2014: 22 worker hours per 1000 segmentations) over the 31.0 vertices a COCO
  polygon instance has on average (measured on the coco_sample set of COCO val2017
  annotations): 2.55 s.
- a click (click -> instance) and a brush or eraser stroke: no published figure for
  MaskLoop's gestures; a click is taken as one vertex (2.55 s) and a stroke as one
  box drag (7.0 s), both assumptions, said as such.
"""
from __future__ import annotations

from model.effort.actions import ACCEPT, BOX, CLICK, REJECT, RELABEL, STROKE, VERTEX, Tally

VERIFY_S = 1.6
BOX_S = 7.0
COCO_POLYGON_S = 79.2
COCO_VERTICES = 31.0
VERTEX_S = COCO_POLYGON_S / COCO_VERTICES

SECONDS_PER_GESTURE: dict[str, float] = {
    ACCEPT: VERIFY_S, REJECT: VERIFY_S, RELABEL: VERIFY_S, BOX: BOX_S,
    CLICK: VERTEX_S, STROKE: BOX_S, VERTEX: VERTEX_S}


def seconds(tally: Tally) -> float:
    """The estimate for one tally."""
    return float(sum(SECONDS_PER_GESTURE[k] * n for k, n in tally.gestures.items()))
