"""Effort per model round: the table the app's Rounds view and `main.py report` show,
from the recorded image entries (record.py in a session, store.py from `.maskloop/`).

One row per model version whose predictions a person reviewed: images reviewed,
instances accepted as they were, edited (with the mean IoU from the model's mask to the
final one), rejected, drawn by hand (the model's misses), actions (action_costs.py's scheme)
and actions per instance. Falling actions per instance from round to round is how a
user sees that the loop pays.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from model.effort.action_costs import Tally
from model.effort.record import NO_MODEL


@dataclass
class Round:
    version: str
    images: int = 0
    accepted: int = 0
    edited: int = 0
    rejected: int = 0
    drawn: int = 0
    ious: list[float] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    _image_ids: set = field(default_factory=set, repr=False)

    @property
    def name(self) -> str:
        return version_name(self.version)

    @property
    def instances(self) -> int:
        return self.accepted + self.edited + self.rejected + self.drawn

    @property
    def actions(self) -> int:
        return self.tally.actions

    @property
    def mean_iou(self) -> float | None:
        return sum(self.ious) / len(self.ious) if self.ious else None

    @property
    def actions_per_instance(self) -> float | None:
        return self.actions / self.instances if self.instances else None

    def to_json(self) -> dict:
        return {"version": self.version, "name": self.name, "images": self.images,
                "accepted": self.accepted, "edited": self.edited,
                "edited_mean_iou": self.mean_iou, "edited_with_iou": len(self.ious),
                "rejected": self.rejected, "drawn": self.drawn, "instances": self.instances,
                "actions": self.actions, "actions_per_instance": self.actions_per_instance,
                "by_kind": self.tally.by_kind()}


def version_name(version: str) -> str:
    return "no model" if version == NO_MODEL else version


def rounds(entries: list[dict], order: list[str] = (), listed: list[str] = ()) -> list[Round]:
    """The table's rows. `order` lists the dataset's model versions oldest first
    (models.json); the no-model round comes first, other models (a pretrained one, a
    checkpoint from elsewhere) next by name, then the dataset's versions in order.
    `listed` versions have a row before anyone reviewed their offers (the app shows each
    model that learning swapped in, from the moment it is in use)."""
    rows: dict[str, Round] = {v: Round(v) for v in listed}

    def row(version: str, image_id: int) -> Round:
        r = rows.setdefault(version, Round(version))
        r._image_ids.add(image_id)
        return r

    for e in entries:
        for version, kinds in e["actions"].items():
            if any(kinds.values()):
                r = row(version, e["id"])
                for kind, n in kinds.items():
                    if n:
                        r.tally.add(kind, n)
        for item in e["instances"]:
            r = row(item["version"], e["id"])
            setattr(r, item["outcome"], getattr(r, item["outcome"]) + 1)
            if item["outcome"] == "edited" and item.get("iou") is not None:
                r.ious.append(float(item["iou"]))
    for r in rows.values():
        r.images = len(r._image_ids)
    rank = {v: k for k, v in enumerate(order)}

    def key(r: Round):
        if r.version == NO_MODEL:
            return (0, 0, "")
        if r.version in rank:
            return (2, rank[r.version], r.version)
        return (1, 0, r.version)

    return sorted(rows.values(), key=key)


COLUMNS = ("round", "images", "accepted", "edited", "mean IoU", "rejected", "drawn",
           "instances", "actions", "actions/inst")


def cells(r: Round) -> list[str]:
    """One row as the table shows it (the app's view and the CLI share this)."""
    iou = "-" if r.mean_iou is None else f"{r.mean_iou:.3f}"
    api = "-" if r.actions_per_instance is None else f"{r.actions_per_instance:.2f}"
    return [r.name, str(r.images), str(r.accepted), str(r.edited), iou, str(r.rejected),
            str(r.drawn), str(r.instances), str(r.actions), api]


def format_table(rows: list[Round]) -> str:
    table = [list(COLUMNS)] + [cells(r) for r in rows]
    widths = [max(len(line[c]) for line in table) for c in range(len(COLUMNS))]
    lines = ["  ".join(v.ljust(w) if c == 0 else v.rjust(w)
                       for c, (v, w) in enumerate(zip(line, widths))) for line in table]
    return "\n".join(lines)


def total(rows: list[Round]) -> dict:
    t = Tally()
    for r in rows:
        t += r.tally
    instances = sum(r.instances for r in rows)
    images = set().union(*(r._image_ids for r in rows)) if rows else set()
    return {"images": len(images), "instances": instances,
            "actions": t.actions, "actions_per_instance": t.actions / instances
            if instances else None, "by_kind": t.by_kind()}
