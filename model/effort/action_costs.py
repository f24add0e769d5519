"""The one counting scheme for a person's work, shared by the simulated annotator
(issue 20, section 1) and the effort recorded in a real session (section 4), so the two
figures can be compared: one action is one deliberate gesture.

accept 1, reject 1, class change 1, a box drag 2 (press at one corner, release at the
other), a click 1 (click -> instance), a brush or eraser stroke 1 (press .. release),
a polygon vertex 1 (closing the polygon is its last vertex), rejecting every unreviewed
offer of an image at once 1 (Shift+R), drawing an instance anew counts its own gestures
(strokes or vertices).

Some of a person's time is no deliberate gesture: finding the next object to draw
(`object`, once per object drawn) and a glance at an offer that is rejected with the
rest of its image (`glance`). They cost 0 actions and are counted so that seconds
(timings.py) can price them; only the simulated annotator records them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

ACCEPT = "accept"
REJECT = "reject"
RELABEL = "relabel"
BOX = "box"
CLICK = "click"
STROKE = "stroke"
VERTEX = "vertex"
REJECT_ALL = "reject_all"
OBJECT = "object"
GLANCE = "glance"

COST: dict[str, int] = {ACCEPT: 1, REJECT: 1, RELABEL: 1, BOX: 2, CLICK: 1, STROKE: 1,
                        VERTEX: 1, REJECT_ALL: 1, OBJECT: 0, GLANCE: 0}
KINDS = tuple(COST)  # every kind a tally (or an effort file) may hold
ACTION_KINDS = tuple(k for k in KINDS if COST[k])  # the deliberate gestures


def cost(kind: str, n: int = 1) -> int:
    """Actions for n gestures of one kind; an unknown kind is a programming error."""
    if kind not in COST:
        raise ValueError(f"unknown action kind {kind!r}; one of {', '.join(KINDS)}")
    return COST[kind] * n


@dataclass
class Tally:
    """Actions by kind (gestures counted, cost applied on reading)."""
    gestures: Counter = field(default_factory=Counter)

    def add(self, kind: str, n: int = 1) -> None:
        cost(kind, n)  # validates the kind
        self.gestures[kind] += n

    def remove(self, kind: str, n: int = 1) -> None:
        """Undo of what add recorded (a session's undo takes its actions back)."""
        cost(kind, n)
        self.gestures[kind] -= n
        if self.gestures[kind] <= 0:
            del self.gestures[kind]

    def __iadd__(self, other: "Tally") -> "Tally":
        self.gestures.update(other.gestures)
        return self

    def copy(self) -> "Tally":
        return Tally(Counter(self.gestures))

    @property
    def actions(self) -> int:
        return sum(cost(k, n) for k, n in self.gestures.items())

    def by_kind(self) -> dict[str, int]:
        """Actions (not gestures) by kind, every deliberate kind present, in KINDS order."""
        return {k: cost(k, self.gestures.get(k, 0)) for k in ACTION_KINDS}

    def counts(self) -> dict[str, int]:
        """Gestures by kind, those present only, in KINDS order (seconds are priced on
        these, time-only kinds included)."""
        return {k: int(self.gestures[k]) for k in KINDS if self.gestures.get(k)}
