"""argparse types that refuse bad values at parse time, before any work: a zero batch
size or a folder given as an output file gets a usage error, not a traceback after
the model has run."""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from model.errors import UsageError
from model.net.sizes import MAX_SIDE, MIN_SIDE


def _int(text: str, least: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < least:
        raise argparse.ArgumentTypeError(f"must be {least} or more, got {v}")
    return v


def positive_int(text: str) -> int:
    return _int(text, 1)


def non_negative_int(text: str) -> int:
    return _int(text, 0)


def side(text: str) -> int:
    """--min-size / --max-size: pixels within the bounds a checkpoint may hold."""
    v = _int(text, MIN_SIDE)
    if v > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"must be {MAX_SIDE} or less, got {v}")
    return v


def anchor_sizes(text: str) -> str | tuple[int, ...]:
    """--anchors: keep, auto, or five sizes in pixels growing level by level (8,16,32,64,128)."""
    word = text.strip().lower()
    if word in ("keep", "auto"):
        return word
    parts = [p.strip() for p in text.split(",") if p.strip()]
    sizes = tuple(_int(p, 1) for p in parts)
    if len(sizes) != 5 or any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[-1] > 8192:
        raise argparse.ArgumentTypeError(
            f"expected keep, auto or five growing sizes up to 8192 (one per FPN level), got {text!r}")
    return sizes


def iteration_list(text: str) -> tuple[int, ...]:
    """"100,200,300": positive iteration counts, sorted, each once."""
    return tuple(sorted({positive_int(part.strip()) for part in text.split(",") if part.strip()}))


def _float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return v


def positive_float(text: str) -> float:
    v = _float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {v}")
    return v


def non_negative_float(text: str) -> float:
    v = _float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {v}")
    return v


def unit_interval(text: str) -> float:
    v = _float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {v}")
    return v


AUTO = "auto"


def threshold_or_auto(text: str) -> float | str:
    """--score-threshold: a number in [0, 1], or `auto` (the offer gate fits it,
    model/effort/gate.py)."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return unit_interval(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e}; or auto") from None


def below_one(text: str) -> float:
    v = _float(text)
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1), got {v}")
    return v


def output_file(text: str) -> Path:
    """A file to write: not a folder, and its folder exists or can be made."""
    p = Path(text)
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{p} is a folder; give a file name, such as "
                                         f"{p / 'out.json'}")
    return p


def check_writable(path: Path, folder: bool = False) -> None:
    """Can the output be written at `path` (a file; with `folder`, an output folder)?
    Checked before the work, so a read-only or missing folder is said at once, not after
    an hour of predicting.

    Every command's --out is checked here, the same way: MaskLoop makes at most the
    output's own folder (the one a file goes in; an output folder itself, which its
    writer makes), and only where that folder's parent exists. A mistyped path is
    refused instead of growing a tree of folders (at the file system's root, as root).
    """
    path = Path(path)
    own = path if folder else path.parent
    if not own.parent.is_dir():
        raise UsageError(f"cannot write {path}: the folder {own.parent} does not exist "
                         f"(MaskLoop makes only the output's own folder, {own})")
    where = own.parent if folder else own
    try:
        if not folder:
            own.mkdir(exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    if path.exists() and not folder and not path.stat().st_mode & 0o222:
        raise UsageError(f"cannot write {path}: the file is read-only")
