"""Seconds from gestures: the one conversion (`seconds`), with every per-gesture time
sourced, derived from sources, or marked ASSUMPTION (issue 29, section 4). Actions
stay the count of deliberate gestures; seconds weigh them, and add the time that is no
gesture (finding the next object to draw, a glance at an offer).

Each kind's time (s), its status, and what exactly the figure is:

| accept | 3.20 | ASSUMPTION |
    checking an offered MASK and pressing A: twice the 1.6 s yes/no on a box (a
    mask's whole outline is checked, not four sides); no published time for checking
    a mask was found
| reject | 1.60 | sourced |
    a yes/no verification of one box shown on an image (Papadopoulos et al., "We
    don't need no bounding-boxes", CVPR 2016); quoted by later work, the passage
    itself was not read here
| relabel | 1.60 | ASSUMPTION |
    choosing the right class (a key 1-9) once the offer is judged: taken as one
    yes/no answer
| box | 22.00 | derived |
    a corner-drag box: 25.5 s "for drawing one box" with the reference interface of
    Su et al. 2012, used to annotate ILSVRC, as Konyushkova et al., CVPR 2018, sec.
    2 report it (Papadopoulos et al., ICCV 2017, cite the same work at "35 s for one
    high-quality box"), less `object` (counted apart)
| click | 1.75 | derived |
    one click on a point of the object: extreme clicking's 7.0 s for four clicks on
    physical points of an object (Papadopoulos et al., "Extreme clicking", ICCV
    2017, crowd-sourced on PASCAL VOC) divided by 4
| stroke | 3.50 | ASSUMPTION |
    a brush or eraser stroke (press on an error region, drag along it, release): two
    extreme clicks' time; no published time for such a stroke was found
| vertex | 2.44 | derived |
    one polygon vertex: COCO's 79.2 s per polygon instance (Lin et al., "Microsoft
    COCO", ECCV 2014: "over 22 worker hours per 1,000 segmentations"), less
    `object`, over the 31.0 vertices of a COCO polygon instance (measured on
    coco_sample, COCO val2017 annotations)
| reject_all | 1.60 | ASSUMPTION |
    Shift+R on an image whose remaining offers are all to go: one yes/no judgement
| object | 3.50 | ASSUMPTION |
    finding the next object to draw and starting on it, once per object drawn (box,
    polygon or click): half of one extreme-click box, which includes finding the
    object and so bounds it above
| glance | 0.50 | ASSUMPTION |
    a glance at one offer rejected with the rest of its image by reject_all (seen
    among the others, not asked as a question)

COCO's 79.2 s per object is thus split into a per-object overhead (3.5 s, assumed) and
2.44 s per vertex (derived); a drawn polygon costs 3.5 s + 2.44 s per vertex. The corner-
drag box is the slow figure: 7 s is extreme clicking's four clicks, a different gesture.
The sensitivity table (`sensitivity`, bench/sensitivity.py) gives the headline ratios with
each time halved and doubled; it reprices the same gestures (the annotator's choices are
those made at the times above).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from model.effort.action_costs import (ACCEPT, BOX, CLICK, GLANCE, KINDS, OBJECT, REJECT,
                                  REJECT_ALL, RELABEL, STROKE, VERTEX, Tally)

BOX_VERIFY_S = 1.6  # yes/no on a box (Papadopoulos et al. 2016)
CORNER_BOX_S = 25.5  # one high-quality corner-drag box, drawing stage (Su et al. 2012)
EXTREME_BOX_S = 7.0  # four extreme clicks (Papadopoulos et al. 2017)
COCO_POLYGON_S = 79.2  # one COCO polygon instance (Lin et al. 2014)
COCO_VERTICES = 31.0  # vertices of a COCO polygon instance, measured on coco_sample
OBJECT_S = EXTREME_BOX_S / 2  # ASSUMPTION
VERTEX_S = (COCO_POLYGON_S - OBJECT_S) / COCO_VERTICES


@dataclass(frozen=True)
class Timing:
    seconds: float
    status: str  # "sourced", "derived" or "ASSUMPTION"


TIMINGS: dict[str, Timing] = {
    ACCEPT: Timing(2 * BOX_VERIFY_S, "ASSUMPTION"),
    REJECT: Timing(BOX_VERIFY_S, "sourced"),
    RELABEL: Timing(BOX_VERIFY_S, "ASSUMPTION"),
    BOX: Timing(CORNER_BOX_S - OBJECT_S, "derived"),
    CLICK: Timing(EXTREME_BOX_S / 4, "derived"),
    STROKE: Timing(2 * EXTREME_BOX_S / 4, "ASSUMPTION"),
    VERTEX: Timing(VERTEX_S, "derived"),
    REJECT_ALL: Timing(BOX_VERIFY_S, "ASSUMPTION"),
    OBJECT: Timing(OBJECT_S, "ASSUMPTION"),
    GLANCE: Timing(0.5, "ASSUMPTION"),
}
assert set(TIMINGS) == set(KINDS)
SECONDS_PER_GESTURE: dict[str, float] = {k: t.seconds for k, t in TIMINGS.items()}
FACTORS = (0.5, 2.0)  # the sensitivity table: each time halved and doubled


def seconds(tally: Tally, scale: Mapping[str, float] | None = None) -> float:
    """The estimate for one tally; `scale` multiplies the time of the kinds it names
    (the sensitivity table's halved and doubled times)."""
    scale = scale or {}
    for k, f in scale.items():
        if k not in SECONDS_PER_GESTURE or not f >= 0 or f == float("inf"):
            raise ValueError(f"scale: {k!r} x {f!r}: a known kind and a finite factor >= 0")
    return float(sum(SECONDS_PER_GESTURE[k] * scale.get(k, 1.0) * n
                     for k, n in tally.gestures.items()))


def sensitivity(pairs: Mapping[str, tuple[Tally, Tally]], factors=FACTORS,
                kinds=KINDS) -> list[dict]:
    """The headline ratios (seconds with the model / seconds without, on the same
    images) for each named pair, first as they are, then with each kind's time scaled
    by each factor: [{"kind": None | kind, "factor": 1.0 | f, "ratios": {name: r}}]."""
    def ratios(scale: dict) -> dict[str, float | None]:
        out = {}
        for name, (model, none) in pairs.items():
            base = seconds(none, scale)
            out[name] = seconds(model, scale) / base if base else None
        return out
    rows = [{"kind": None, "factor": 1.0, "ratios": ratios({})}]
    for k in kinds:
        for f in factors:
            rows.append({"kind": k, "factor": f, "ratios": ratios({k: f})})
    return rows


def format_sensitivity(rows: list[dict]) -> str:
    """The sensitivity rows as a markdown table, one column per pair."""
    names = list(rows[0]["ratios"]) if rows else []
    lines = ["| time scaled | " + " | ".join(names) + " |",
             "| --- |" + " --- |" * len(names)]
    for r in rows:
        label = "as sourced" if r["kind"] is None else (
            f"{r['kind']} ({TIMINGS[r['kind']].status}) x{r['factor']:g}")
        cells = ["-" if v is None else f"{v:.2f}x" for v in r["ratios"].values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
