"""Where an instance stands, from its provenance fields (`source`, `review`, `original`).

These are the terms of the review policy (model/editing/review.py), kept here because the
files that persist a session (recovery, the prediction cache) must tell a cached prediction
from a decision without depending on the editing layer.
"""
from __future__ import annotations

from model.data.annotations import DECIDED_REVIEW, Instance


def is_pristine(inst: Instance) -> bool:
    """A model prediction nobody has reviewed or changed."""
    return inst.source == "model" and inst.review == "unreviewed"


def is_cached(inst: Instance) -> bool:
    """A pristine prediction that did not come from the file: the replaceable cache."""
    return is_pristine(inst) and inst.original is None


def is_decided(inst: Instance) -> bool:
    """Accepted, rejected, edited or drawn by a person: a decision, whatever its kind."""
    return inst.review != "unreviewed" or inst.source in ("human", "edited")


def review_state(inst: Instance) -> str:
    """What the review rule says of an instance, in one word, as the instance list, the
    saved file and the fine-tune dialog say it: accepted or rejected as a person said;
    `decided` for one a person drew or edited, or a ground-truth file brought, that
    nobody accepted or rejected explicitly (the training rule counts it decided);
    `unreviewed` only for a model prediction nobody has looked at."""
    if inst.review != "unreviewed":
        return inst.review
    return DECIDED_REVIEW if is_decided(inst) else "unreviewed"
