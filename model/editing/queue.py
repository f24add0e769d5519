"""The review queue: which images are listed, in which order, and where the review
keys go next. One object answers the image list, the review keys (D, Q, U and M's
jump), the prefetch and the simulated annotator, so they walk one and the same order;
it is Qt-free, so the app's widget only shows it.

Filter: a review state (unreviewed, in_progress, done) or SUSPECTS (the images with an
open suspect of the audit), a name fragment (case-insensitive) and an id set (the
Evaluation dock's class or cell).
Order: the dataset's (a folder's natural order, a COCO file's own), or ATTENTION, the
images the model is least sure of first (model/effort/attention.py), never predicted
last; the Suspects filter ranks by the best open suspect whatever the order says. Ties
keep the dataset's order.

The image shown stays listed until you leave it: marked done under 'Unreviewed', it
stays (pinned) until another image is shown or a new filter is chosen, so what is shown
is always what the list highlights.

Rows are indexes into `images` (the dataset's order). The queue is told what changed
(`set_current` when another image is shown, `touch` when an image's state or attention
changed, `refresh` when the suspects did) and tells its `listeners` what that changed
for them, with a QueueChange.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from model.data.annotations import ImageRecord

FILE, ATTENTION = "", "attention"
ORDERS = (FILE, ATTENTION)
SUSPECTS = "suspects"  # the state filter that lists the images with open suspects, ranked
STATES = ("", "unreviewed", "in_progress", "done", SUSPECTS)

Key = tuple[bool, float, int]  # (unknown, -priority, row): ascending is the listed order
Move = tuple[int, int, int]  # (row, its place before, its place after); -1: not listed


@dataclass(frozen=True)
class QueueChange:
    """What a change did, for whoever shows the queue."""
    listed: bool = False  # the listed rows, or their order
    moves: tuple[Move, ...] = ()  # listed: one row at a time, in turn (empty: any change)
    current: bool = False  # the image shown
    filter: bool = False  # the state, name or id filter (a new filter: show what choose() says)
    order: bool = False
    reset: bool = False  # another dataset: everything


class ReviewQueue:
    def __init__(self, images: Sequence[ImageRecord] = (), *, order: str = FILE,
                 suspect_score: Callable[[int], float | None] | None = None,
                 attention: Callable[[ImageRecord], float | None] | None = None):
        """suspect_score: an image id's best open suspect (None: none), for SUSPECTS;
        attention: an image's priority for ATTENTION (default: its predictions' own,
        ImageRecord.attention); higher first, None last."""
        _check(order, ORDERS, "order")
        self.images: Sequence[ImageRecord] = images
        self.order = order
        self.text = ""  # lower case
        self.state = ""
        self.image_ids: frozenset[int] | None = None
        self.current = -1  # the image shown (-1: none)
        self.last = -1  # the last image shown, shown again when a filter lists it again
        self.listeners: list[Callable[[QueueChange], None]] = []
        self.version = 0  # bumped by every change of the listed rows, before listeners hear
        self._suspect_score = suspect_score or (lambda _id: None)
        self._attention = attention or (lambda rec: rec.attention)
        self._pinned = -1  # listed whatever the filter says: the image shown
        self._rows: list[int] = []  # the listed rows, in order
        self._keys: list[Key] = []  # their keys, ascending
        self._key_of: dict[int, Key] = {}
        self._rebuild()

    # ------------------------------------------------------------------ filter
    @property
    def filtered(self) -> bool:
        """Does a filter leave images out (the messages say 'in this filter')?"""
        return bool(self.text or self.state) or self.image_ids is not None

    @property
    def ranking(self) -> str:
        """What the listed order follows: SUSPECTS, ATTENTION or FILE."""
        return SUSPECTS if self.state == SUSPECTS else self.order

    def matches(self, row: int) -> bool:
        """Does the filter list this image (the pin aside)?"""
        rec = self.images[row]
        if self.state == SUSPECTS:
            if self._suspect_score(rec.id) is None:
                return False
        elif self.state and rec.status != self.state:
            return False
        if self.image_ids is not None and rec.id not in self.image_ids:
            return False
        return not self.text or self.text in rec.file_name.lower()

    def set_filter(self, text: str | None = None, state: str | None = None) -> None:
        """A new name or state filter (None: as it is). The image shown stays pinned only
        if the new filter lists it; otherwise the caller shows what choose() says."""
        if state is not None:
            _check(state, STATES, "state")
            self.state = state
        if text is not None:
            self.text = text.lower()
        self._new_filter()

    def set_image_ids(self, ids: Iterable[int] | None) -> None:
        """List only the images with these ids (None: every image), as set_filter."""
        self.image_ids = None if ids is None else frozenset(ids)
        self._new_filter()

    def _new_filter(self) -> None:
        c = self.current
        self._pinned = c if c >= 0 and self.matches(c) else -1
        self._rebuild()
        self._notify(QueueChange(listed=True, filter=True))

    def set_order(self, order: str) -> None:
        """FILE or ATTENTION; the pin stays."""
        _check(order, ORDERS, "order")
        if order != self.order:
            self.order = order
            self._rebuild()
            self._notify(QueueChange(listed=True, order=True))

    def choose(self) -> int | None:
        """The image to show after a new filter: the one shown if listed, else the last
        one shown if listed again, else the first listed; None when none is."""
        for row in (self.current, self.last):
            if row >= 0 and self.matches(row):
                return row
        return self._rows[0] if self._rows else None

    # ------------------------------------------------------------- what changed
    def reset(self, images: Sequence[ImageRecord]) -> None:
        """Another dataset: no image shown, and no filter (one chosen for the last dataset
        would hide this one's images); the order stays."""
        self.images = images
        self.text, self.state, self.image_ids = "", "", None
        self.current = self.last = self._pinned = -1
        self._rebuild()
        self._notify(QueueChange(listed=True, current=True, filter=True, reset=True))

    def set_current(self, row: int) -> None:
        """Another image is shown (-1: none): it is pinned, and the one left leaves the
        list if the filter does not list it."""
        if row == self.current and row == self._pinned:
            return
        old, self.current, self._pinned = self._pinned, row, row
        if row >= 0:
            self.last = row
        moves = tuple(m for m in (self._touch(old), self._touch(row) if row != old else None)
                      if m is not None)
        self._notify(QueueChange(listed=bool(moves), moves=moves, current=True))

    def touch(self, row: int) -> None:
        """An image's state or attention changed: it may enter, leave or move."""
        move = self._touch(row)
        if move is not None:
            self._notify(QueueChange(listed=True, moves=(move,)))

    def refresh(self) -> None:
        """Any image may have changed (the suspects did): list them all again."""
        before = self._rows
        self._rebuild()
        if self._rows != before:
            self._notify(QueueChange(listed=True))

    # ---------------------------------------------------------------- answers
    def visible(self) -> list[int]:
        """The listed rows, in order (a copy)."""
        return list(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def position(self, row: int) -> int:
        """Where a row is listed (-1: not listed)."""
        key = self._key_of.get(row)
        return -1 if key is None else bisect_left(self._keys, key)

    def step(self, k: int, row: int | None = None) -> int | None:
        """The image k places from `row` (default: the one shown), stopping at the ends
        (the last image is its own next); from an image not listed, the first (or last);
        None when nothing is listed."""
        n = len(self._rows)
        if n == 0:
            return None
        at = self.position(self.current if row is None else row)
        if at < 0:
            return self._rows[0 if k > 0 else n - 1]
        return self._rows[min(max(at + k, 0), n - 1)]

    def next(self, row: int | None = None) -> int | None:
        """D: the next image listed (see step)."""
        return self.step(1, row)

    def previous(self, row: int | None = None) -> int | None:
        """Q: the previous image listed (see step)."""
        return self.step(-1, row)

    def after(self, row: int | None = None) -> Iterator[int]:
        """The listed images after `row` (default: the one shown), wrapping around, `row`
        itself last; from an image not listed, all of them from the first."""
        rows = self._rows
        at, n = self.position(self.current if row is None else row), len(rows)
        return (rows[(at + j) % n] for j in range(1, n + 1))

    def next_rows(self, count: int, row: int | None = None) -> list[int]:
        """Up to `count` listed images after `row`, no wrapping: what D shows next (the
        prefetch); none from an image not listed."""
        at = self.position(self.current if row is None else row)
        return [] if at < 0 else self._rows[at + 1:at + 1 + count]

    def next_unreviewed(self, row: int | None = None) -> tuple[int, bool] | None:
        """U and M's jump: the next listed image not done after `row` (default: the one
        shown), wrapping around, and whether it wrapped; None when every other listed
        image is done."""
        cur = self.current if row is None else row
        for r in self.after(cur):
            if r != cur and self.images[r].status != "done":
                return r, 0 <= self.position(r) < self.position(cur)
        return None

    # ---------------------------------------------------------------- inside
    def _key(self, row: int) -> Key:
        ranking = self.ranking
        if ranking == FILE:
            return (False, 0.0, row)
        rec = self.images[row]
        v = self._suspect_score(rec.id) if ranking == SUSPECTS else self._attention(rec)
        if v is None or not math.isfinite(v):
            return (True, 0.0, row)
        return (False, -float(v), row)

    def _listed(self, row: int) -> bool:
        return row == self._pinned or self.matches(row)

    def _rebuild(self) -> None:
        if not self.filtered and self.ranking == FILE:  # every image, as they come
            rows = range(len(self.images))
            self._keys = [(False, 0.0, r) for r in rows]
        else:
            self._keys = sorted(self._key(r) for r in range(len(self.images)) if self._listed(r))
        self._rows = [k[2] for k in self._keys]
        self._key_of = {k[2]: k for k in self._keys}

    def _touch(self, row: int) -> Move | None:
        """Put one row where it belongs now; how it moved, None if the listed rows did not
        change (O(log n) to find, a list insert to move: 10,000 images stay fast)."""
        if not 0 <= row < len(self.images):
            return None
        old = self._key_of.get(row)
        new = self._key(row) if self._listed(row) else None
        if old == new:
            return None
        at = to = -1
        if old is not None:
            at = bisect_left(self._keys, old)
            del self._keys[at], self._rows[at], self._key_of[row]
        if new is not None:
            to = bisect_left(self._keys, new)
            self._keys.insert(to, new)
            self._rows.insert(to, row)
            self._key_of[row] = new
        return None if to == at else (row, at, to)  # equal: the same rows, in the same order

    def _notify(self, change: QueueChange) -> None:
        if change.listed:
            self.version += 1
        for listener in list(self.listeners):
            listener(change)


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; one of {', '.join(map(repr, allowed))}")
