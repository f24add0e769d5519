"""Which normalisation layers a Mask R-CNN is built with, and how to tell from a
state_dict. Kept apart from build.py so weights.py can use it without a cycle."""
from __future__ import annotations

BN_COUNTER = "num_batches_tracked"
NORMS = ("frozen", "batch", "group")
SCRATCH_NORM = "batch"  # from random weights; chosen by bench/learning.py (see bench/README.md)
GROUPS = 32


def infer_norm(state_dict: dict) -> str:
    """The normalisation a state_dict was trained with: GroupNorm keeps no running
    statistics, BatchNorm2d counts its batches, FrozenBatchNorm2d does neither."""
    key = "backbone.body.bn1"
    if f"{key}.weight" in state_dict and f"{key}.running_mean" not in state_dict:
        return "group"
    if f"{key}.{BN_COUNTER}" in state_dict:
        return "batch"
    return "frozen"
