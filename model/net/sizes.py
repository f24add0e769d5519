"""The resize bounds a Mask R-CNN may be given: torchvision scales an image so its shorter
side is min_size, unless its longer side would pass max_size. Kept apart (no torch) so
argument parsing (the app's and the commands') can use them without loading torch."""
from __future__ import annotations

import argparse

# A checkpoint's max_size of 100000 asked for 57.6 GB; a min_size under 1 skipped every
# image. 4096 is three times the default cap (1333), for small objects in large images.
MIN_SIDE, MAX_SIDE = 32, 4096


def side(text: str) -> int:
    """--min-size / --max-size (the app's and the commands'): pixels within MIN_SIDE..MAX_SIDE."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not MIN_SIDE <= v <= MAX_SIDE:
        bound = f"{MIN_SIDE} or more" if v < MIN_SIDE else f"{MAX_SIDE} or less"
        raise argparse.ArgumentTypeError(f"must be {bound}, got {v}")
    return v


def size_problem(min_size: object, max_size: object) -> str | None:
    """What is wrong with a pair of resize bounds (None: nothing). Either may be None
    (not given: the defaults, 800 and 1333); given, each is a whole number of pixels in
    MIN_SIDE..MAX_SIDE, and the longer side's cap is not below the shorter side's target."""
    for name, v in (("min_size", min_size), ("max_size", max_size)):
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool):
            return f"{name} {v!r} is not a whole number of pixels"
        if not MIN_SIDE <= v <= MAX_SIDE:
            return f"{name} {v} is outside {MIN_SIDE}..{MAX_SIDE} pixels"
    if min_size is not None and max_size is not None and max_size < min_size:
        return f"max_size {max_size} is below min_size {min_size}"
    return None
