"""The sensitivity of the headline ratios to the per-gesture times (issue 29, section
4): for each predictions file, the simulated annotator's seconds on GT's images with
those offers over its seconds on the same images with none (the no-model cost, run in
this process), as sourced and with each gesture's time halved and doubled
(model/effort/timings.py, `sensitivity`). Prints a markdown table; nothing is written.

Usage: python -m bench.sensitivity GT.json NAME=PRED.json [NAME=PRED.json ...]
[--iou 0.9] [--images ROOT]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.data.coco import load_dataset  # noqa: E402
from model.effort.annotator import TAU  # noqa: E402
from model.effort.dataset import simulate_dataset  # noqa: E402
from model.effort.timings import format_sensitivity, sensitivity  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gt", help="ground-truth COCO JSON")
    ap.add_argument("predictions", nargs="+", help="NAME=PRED.json (or PRED.json)")
    ap.add_argument("--iou", type=float, default=TAU)
    ap.add_argument("--images", default=None, help="image root of GT (default: its folder)")
    a = ap.parse_args(argv)
    gt = load_dataset(a.gt, a.images)
    none = simulate_dataset(gt, None, iou=a.iou)
    pairs = {}
    for spec in a.predictions:
        name, _eq, path = spec.rpartition("=")
        name = name or Path(path).stem
        pairs[name] = (simulate_dataset(gt, load_dataset(path), iou=a.iou).tally, none.tally)
    print(f"seconds with the offers / seconds with none, {len(gt.images)} image(s) of {a.gt}, "
          f"every object to IoU {a.iou:g} (no-model cost {none.seconds_per_instance:.1f} s "
          "per instance)")
    print(format_sensitivity(sensitivity(pairs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
