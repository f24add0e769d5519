"""The offer gate (issue 29): show a model version's offers only where showing them
saves the person time, judged from that version's own predictions on images a person
finished.

A record is one prediction of one version on a finished image, priced against the
image's final annotations (the person's truth) whether it was shown or not, as a
careful person would have met it (glance.py estimates, never played):
- matched to a final object (mask IoU >= 0.5, matching.py): showing it saved drawing
  that object, and cost reviewing it: the cheaper of correcting it and rejecting it
  plus drawing the object anyway. Benefit = drawing - that, at least -reject.
- unmatched: showing it cost its reject. Benefit = -reject.
Benefits are kept in actions and in seconds (timings.seconds), so a change of the
per-action times flows in.

`fit` picks the shown threshold t that maximises the summed benefit (seconds) of the
records with score >= t, with actions not negative either (t halfway between the lowest
score shown and the next one down). When no t pays, the
decision is to hide: new images show no offers. Before MIN_RECORDS records exist, a
cautious DEFAULT_THRESHOLD, with the estimate and its count.

The records come from the app's done images (gate_records.py), a version's held-out
evaluation, and in `simulate` the images played so far (OnlineGate) - never test images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from model.data.annotations import Instance
from model.effort import glance as G
from model.effort.actions import REJECT, Tally
from model.effort.annotator import TAU
from model.effort.matching import match
from model.effort.timings import seconds

MIN_RECORDS = 30  # fewer records of a version than this: the cautious default
DEFAULT_THRESHOLD = 0.7  # shown until MIN_RECORDS exist (a fixed 0.5 let weak models flood)
SCORE_FLOOR = 0.05  # predictions kept down to this score, so a fit may choose below 0.5


@dataclass(frozen=True)
class Record:
    """One prediction of one version, priced: what showing it gained (negative: cost)."""
    score: float
    version: str
    benefit_actions: int
    benefit_seconds: float
    matched: bool = False

    def to_json(self) -> list:
        return [round(self.score, 4), self.benefit_actions, round(self.benefit_seconds, 2),
                int(self.matched)]


def rejecting() -> Tally:
    """What an offer that matches nothing costs: its reject. (A glance that is not a
    gesture, should timings.py give it a time, belongs here.)"""
    t = Tally()
    t.add(REJECT)
    return t


def _score(inst: Instance) -> float:
    return 1.0 if inst.score is None else float(inst.score)


def price(predictions: Sequence[Instance], truth: Sequence[Instance], version: str,
          tau: float = TAU, box_mask: G.BoxMask | None = None) -> list[Record]:
    """A record per prediction (crowd and empty ones left out) against the final
    instances `truth` (crowd regions left out, as the annotator leaves them).
    box_mask: the box route's mask for a box (None: drawing is priced by polygon)."""
    gts = [g for g in truth if not g.iscrowd and g.mask.any()]
    preds = [p for p in predictions if not p.iscrowd and p.mask.any()]
    pairs, _ious = match(gts, preds)
    by_pred = {p: g for g, p in pairs.items()}
    reject = rejecting()
    reject_a, reject_s = reject.actions, seconds(reject)
    out = []
    for k, p in enumerate(preds):
        g = by_pred.get(k)
        if g is None:
            out.append(Record(_score(p), version, -int(reject_a), -float(reject_s)))
            continue
        draw = G.drawing(gts[g], tau, box_mask)
        corr = G.correction(p, gts[g], tau)
        redraw_a, redraw_s = reject_a + draw.actions, reject_s + draw.seconds
        if corr is not None and (corr.seconds, corr.actions) <= (redraw_s, redraw_a):
            cost_a, cost_s = corr.actions, corr.seconds
        else:
            cost_a, cost_s = redraw_a, redraw_s
        out.append(Record(_score(p), version, int(draw.actions - cost_a),
                          float(draw.seconds - cost_s), True))
    return out


# ------------------------------------------------------------------------ the fit

@dataclass(frozen=True)
class Decision:
    """What the gate shows for one version.

    threshold: the shown threshold; None when offers are hidden. best: the threshold
    that came closest to paying (None with no record).
    per_offer_*: the estimated benefit of one shown offer at threshold (at best when
    hidden; None with no record at or above it). shown: records at or above it.
    count: the version's records. fitted: False while the default applies."""
    version: str
    threshold: float | None
    best: float | None
    per_offer_actions: float | None
    per_offer_seconds: float | None
    shown: int
    count: int
    fitted: bool
    min_records: int = MIN_RECORDS

    @property
    def hidden(self) -> bool:
        return self.threshold is None

    def line(self) -> str:
        """One line for a status bar or a log."""
        est = "no estimate yet" if self.per_offer_seconds is None else \
            f"{self.per_offer_seconds:+.1f} s ({self.per_offer_actions:+.2f} actions) per " \
            f"offer on {self.shown}"
        if not self.fitted:
            return (f"Offers at the default {self.threshold:.2f}: {self.count} of the "
                    f"{self.min_records} judged offers a fit needs; {est}")
        if self.hidden:
            where = "" if self.best is None else f" (best: {self.best:.2f}, {est})"
            return f"Offers hidden: no threshold pays on {self.count} judged offers{where}"
        return f"Offers at {self.threshold:.2f}, fitted on {self.count} judged offers: {est}"

    def to_json(self) -> dict:
        r = (lambda v, n: None if v is None else round(v, n))
        return {"version": self.version, "threshold": r(self.threshold, 4),
                "hidden": self.hidden, "best": r(self.best, 4), "fitted": self.fitted,
                "records": self.count, "shown": self.shown,
                "per_offer_actions": r(self.per_offer_actions, 3),
                "per_offer_seconds": r(self.per_offer_seconds, 2)}


def _at(records: Sequence[Record], t: float) -> tuple[int, float, float]:
    shown = [r for r in records if r.score >= t]
    return len(shown), float(sum(r.benefit_actions for r in shown)), \
        float(sum(r.benefit_seconds for r in shown))


def fit(records: Iterable[Record], version: str | None = None, *,
        min_records: int = MIN_RECORDS, default: float = DEFAULT_THRESHOLD) -> Decision:
    """The decision for `version` (None: every record given is the version's)."""
    recs = [r for r in records if version is None or r.version == version]
    name = version if version is not None else (recs[0].version if recs else "")
    if len(recs) < min_records:
        n, a, s = _at(recs, default)
        return Decision(name, default, default, a / n if n else None, s / n if n else None,
                        n, len(recs), False, min_records)
    recs.sort(key=lambda r: -r.score)
    best_k, best_s, pay_k, pay_s = None, -math.inf, None, 0.0  # ties: the higher threshold
    sum_a = sum_s = 0.0
    for k, r in enumerate(recs):
        sum_a += r.benefit_actions
        sum_s += r.benefit_seconds
        if k + 1 < len(recs) and recs[k + 1].score == r.score:
            continue  # a threshold takes every record of its score
        if sum_s > best_s:
            best_k, best_s = k, sum_s
        if sum_s > pay_s and sum_a >= 0:  # pays: seconds saved, no actions lost
            pay_k, pay_s = k, sum_s
    k = pay_k if pay_k is not None else best_k
    # between the lowest score shown and the highest one not: a new offer scoring a
    # little under the lowest record shown is no worse evidence than one a little over
    t = recs[k].score if k + 1 == len(recs) else (recs[k].score + recs[k + 1].score) / 2
    t = float(t)
    n, a, s = _at(recs, t)
    return Decision(name, t if pay_k is not None else None, t, a / n, s / n, n, len(recs),
                    True, min_records)


# --------------------------------------------------------------- fitting as it goes

@dataclass
class OnlineGate:
    """The gate as `simulate` plays it: each image is offered what the decision of the
    images before it shows, then its predictions (shown or not) are priced against
    what the person ended with, and the decision is fitted again."""
    version: str
    tau: float = TAU
    min_records: int = MIN_RECORDS
    default: float = DEFAULT_THRESHOLD
    records: list[Record] = field(default_factory=list)
    decision: Decision | None = None

    def __post_init__(self) -> None:
        self.refit()

    def refit(self) -> Decision:
        self.decision = fit(self.records, self.version, min_records=self.min_records,
                            default=self.default)
        return self.decision

    def offered(self, predictions: Sequence[Instance]) -> list[Instance]:
        t = self.decision.threshold
        return [] if t is None else [p for p in predictions if _score(p) >= t]

    def learn(self, predictions: Sequence[Instance], final: Sequence[Instance],
              box_mask: G.BoxMask | None = None) -> Decision:
        self.records += price(predictions, final, self.version, self.tau, box_mask)
        return self.refit()
