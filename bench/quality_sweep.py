"""Benchmark: how good must the model be before its offers save a person time? (issue 29)

The simulated annotator (model/effort/annotator.py) labels a real dataset from
synthetic predictions of a known quality, made from the ground truth itself:
- recall r: a seeded random share r of the objects is offered, the rest must be drawn;
- mask error e px: each offered mask is the object's own, grown or shrunk (the sign is
  seeded per object) by e pixels with a disc, so e = 1 is a one-pixel outline error;
- false positives f per object: f times as many offers on no object as the image has
  objects (a copy of another object's mask, shifted to where it covers no object's
  pixel), costing a reject each (or one reject-all for the image).
Every offer is shown (no gate: the sweep asks what a model of that quality is worth).
Each cell is the ratio of actions and of seconds to the no-model cost of the SAME
images (every object drawn by hand), over --seeds seeds (mean and spread).

These ratios set the targets of bench/loop.py: what recall and mask quality a model
needs to reach, say, 0.5x the no-model seconds.

Usage: python -m bench.quality_sweep [--data ../shared/data/nuclei/instances.json]
[--recall 0.5,0.8,0.95,1] [--error 0,1,2] [--fp 0,0.5] [--seeds 0,1,2] [--no-write]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
from bench._results import add_no_write_option, write_section  # noqa: E402
from model.data.annotations import Dataset, Instance  # noqa: E402
from model.data.coco import load_dataset  # noqa: E402
from model.data.masks import tight_crop  # noqa: E402
from model.effort.dataset import simulate_dataset  # noqa: E402


def _grow(inst: Instance, e: int, sign: int, h: int, w: int) -> Instance | None:
    """The object's mask grown (sign +1) or shrunk (-1) by e px, inside the image."""
    m, (x0, y0) = inst.mask, inst.offset
    pad = e + 1
    full = np.zeros((m.shape[0] + 2 * pad, m.shape[1] + 2 * pad), np.uint8)
    full[pad:pad + m.shape[0], pad:pad + m.shape[1]] = m
    if e:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * e + 1, 2 * e + 1))
        full = (cv2.dilate if sign > 0 else cv2.erode)(full, k)
    ox, oy = x0 - pad, y0 - pad
    # clip to the image
    ys, xs = np.nonzero(full)
    keep = (xs + ox >= 0) & (xs + ox < w) & (ys + oy >= 0) & (ys + oy < h)
    if not keep.any():
        return None
    clipped = np.zeros_like(full, bool)
    clipped[ys[keep], xs[keep]] = True
    crop, off = tight_crop(clipped, (ox, oy))
    return Instance(inst.category_id, crop, off, score=0.9, source="model", model="sweep")


def _false_positive(rec, occupied: np.ndarray, rng) -> Instance | None:
    """Another object's shape put where it touches no object (None: no room found)."""
    objs = [i for i in rec.instances if not i.iscrowd and i.mask.any()]
    if not objs:
        return None
    src = objs[int(rng.integers(len(objs)))]
    mh, mw = src.mask.shape
    for _ in range(50):
        x = int(rng.integers(0, max(1, rec.width - mw)))
        y = int(rng.integers(0, max(1, rec.height - mh)))
        patch = occupied[y:y + mh, x:x + mw]
        if patch.shape == src.mask.shape and not (patch & src.mask).any():
            return Instance(src.category_id, src.mask.copy(), (x, y), score=0.9,
                            source="model", model="sweep")
    return None


def offers(truth: Dataset, recall: float, error: int, fp: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    out = Dataset(truth.categories, image_root=truth.image_root)
    for rec in truth.images:
        r = out.add_image(rec.file_name, rec.width, rec.height)
        r.id = rec.id
        occupied = np.zeros((rec.height, rec.width), bool)
        for g in rec.instances:
            if g.iscrowd or not g.mask.any():
                continue
            (x0, y0), (mh, mw) = g.offset, g.mask.shape
            occupied[y0:y0 + mh, x0:x0 + mw] |= g.mask
            if rng.random() < recall:
                p = _grow(g, error, 1 if rng.random() < 0.5 else -1, rec.height, rec.width)
                if p is not None:
                    out.add_instance(r, p)
        for _ in range(int(round(fp * len(rec.instances)))):
            p = _false_positive(rec, occupied, rng)
            if p is not None:
                out.add_instance(r, p)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "nuclei" /
                                         "instances.json"))
    ap.add_argument("--recall", default="0.5,0.8,0.95,1")
    ap.add_argument("--error", default="0,1,2", help="mask error in pixels")
    ap.add_argument("--fp", default="0,0.5", help="false positives per object")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--iou", type=float, default=0.9)
    ap.add_argument("--section", default=None)
    add_no_write_option(ap)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    truth = load_dataset(a.data)
    base = simulate_dataset(truth, None, iou=a.iou)
    seeds = [int(s) for s in a.seeds.split(",")]
    name = Path(a.data).parent.name
    lines = [f"{name}: {len(truth.images)} image(s), {base.instances} objects; no-model cost "
             f"{base.actions} actions, {base.seconds:.0f} s ({base.seconds_per_instance:.1f} s "
             f"per object) at IoU {a.iou}; ratios to it over seeds {a.seeds} (mean ± sd)",
             "| recall | mask error | false positives per object | actions | seconds |",
             "| --- | --- | --- | --- | --- |"]
    for fp in (float(v) for v in a.fp.split(",")):
        for error in (int(v) for v in a.error.split(",")):
            for recall in (float(v) for v in a.recall.split(",")):
                ra, rs = [], []
                for seed in seeds:
                    e = simulate_dataset(truth, offers(truth, recall, error, fp, seed),
                                         iou=a.iou)
                    ra.append(e.actions / base.actions)
                    rs.append(e.seconds / base.seconds)
                row = (f"| {recall:g} | {error} px | {fp:g} | {np.mean(ra):.2f}x ± "
                       f"{np.std(ra):.2f} | {np.mean(rs):.2f}x ± {np.std(rs):.2f} |")
                lines.append(row)
                print(row, flush=True)
    lines.append(f"wall {time.perf_counter() - t0:.0f} s")
    print("\n".join(lines[:1]))
    if not a.no_write:
        write_section(a.section or f"quality-sweep-{name}", "bench/quality_sweep.py", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
