"""Benchmark: learning while a person works (`main.py train --continuous`) on small
objects. Held-out segm AP over iterations, from random weights, at each setting.

The one 512x512 nuclei image (../shared/data/nuclei, 125 nuclei of 5-34 px) is cut into
16 tiles of 128x128 that do not overlap. They arrive in a seeded random order as a person
would finish them: 4 at the start, then one more every --arrive-every iterations. The
continuous run holds out its own share (1 in 5, on arrival) and measures the model on them
every --eval-every iterations: the same tiles for every setting.

Settings (each in a fresh process, one after the other, same seed and schedule):
- half: the old benchmark's setting, half resolution (min_size 64 on 128 tiles, as
  bench/loop.py's min_size 128 on 256 crops), torchvision's anchors (32..512);
- native: native resolution (min_size 128), torchvision's anchors;
- anchors: native resolution, anchors fitted to the boxes (--anchors auto);
- upscaled: twice native (min_size 256), torchvision's anchors.

Usage: python -m bench.learn [--iterations 200] [--settings half,anchors,upscaled]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TILE = 128
SETTINGS = {"half": (64, "keep"), "native": (128, "keep"), "anchors": (128, "auto"),
            "upscaled": (256, "keep")}


def make_tiles(src: Path, out: Path):
    """The 16 tiles as images and one COCO dataset of them (every instance accepted)."""
    import cv2
    import numpy as np
    from model.data.annotations import Dataset, Instance
    from model.data.coco import load_dataset
    from model.data.images import read_image
    src_ds = load_dataset(src / "instances.json")
    rec = src_ds.images[0]
    img = read_image(src_ds.image_path(rec))
    h, w = img.shape[:2]
    ds = Dataset(src_ds.categories, image_root=out)
    for y0 in range(0, h, TILE):
        for x0 in range(0, w, TILE):
            fn = f"t{y0 // TILE}{x0 // TILE}.png"
            cv2.imwrite(str(out / fn), np.ascontiguousarray(img[y0:y0 + TILE, x0:x0 + TILE, ::-1]))
            r = ds.add_image(fn, TILE, TILE)
            r.status = "done"
            for inst in rec.instances:
                part = inst.full_mask(h, w)[y0:y0 + TILE, x0:x0 + TILE].copy()
                if part.sum() >= 4:
                    ds.add_instance(r, Instance(inst.category_id, part, review="accepted"))
    return ds


def coverage(ds, min_size: int, anchors: str) -> dict:
    """How well the RPN's anchors fit the objects at this setting, without training: the
    share of ground-truth boxes (at the model's input size) with an anchor of IoU >= 0.7
    (the RPN's positive threshold; the others get only their one best anchor), >= 0.5, and
    the median best IoU."""
    import numpy as np
    import torch
    from torchvision.models.detection.image_list import ImageList
    from torchvision.ops import box_iou
    from model.net.build import DEFAULT_ANCHORS, anchor_generator
    from model.training.anchors import best_iou, fit_anchor_sizes, input_boxes
    scale = min_size / TILE
    sizes = DEFAULT_ANCHORS
    if anchors == "auto":
        sizes = fit_anchor_sizes(input_boxes(ds.images, min_size, min_size)) or DEFAULT_ANCHORS
    gen = anchor_generator(sizes)
    side = int(round(TILE * scale))
    feats = [torch.zeros(1, 1, -(-side // s), -(-side // s)) for s in (4, 8, 16, 32, 64)]
    grid = gen(ImageList(torch.zeros(1, 3, side, side), [(side, side)]), feats)[0]
    best = []
    for rec in ds.images:
        boxes = [[x * scale, y * scale, (x + w) * scale, (y + h) * scale]
                 for x, y, w, h in (i.bbox for i in rec.instances)]
        if boxes:
            best += box_iou(torch.tensor(boxes), grid).max(1).values.tolist()
    best = np.asarray(best)
    quick = best_iou(input_boxes(ds.images, min_size, min_size), sizes)  # the fit's estimate
    return {"sizes": sizes, "estimate": float((quick >= 0.7).mean()), "boxes": len(best), "iou70": float((best >= 0.7).mean()),
            "iou50": float((best >= 0.5).mean()), "median": float(np.median(best))}


def snapshot(ds, order: list[int], n: int, path: Path) -> None:
    from model.data.annotations import Dataset
    from model.data.coco import save_dataset
    keep = set(order[:n])
    sub = Dataset(ds.categories, [r for r in ds.images if r.id in keep], ds.image_root)
    save_dataset(sub, path)


def child(a) -> None:
    """One setting, in this process: the arrivals are written between iterations."""
    import random

    from model.data.coco import load_dataset
    from model.net.devices import configure_cpu_threads
    from model.training.config import TrainConfig
    from model.training.rng import seed_all
    from model.training.train import run_training
    configure_cpu_threads(reserve=0)
    work = Path(a.work)
    ds = load_dataset(work / "all.json")
    order = [r.id for r in ds.images]
    random.Random(a.seed).shuffle(order)
    snap = work / f"{a.child}.json"
    snapshot(ds, order, a.start_with, snap)
    min_size, anchors = SETTINGS[a.child]
    cancel = threading.Event()
    log = []
    started = time.perf_counter()

    def emit(e):
        kind = e["event"]
        if kind == "iter":
            it = e["iteration"]
            n = a.start_with + it // a.arrive_every
            if it % a.arrive_every == 0 and n <= len(order):
                time.sleep(0.01)  # a new mtime
                snapshot(ds, order, n, snap)
            if it > a.iterations:  # the evaluation at --iterations runs first
                cancel.set()
        elif kind in ("heldout", "start", "info"):
            log.append(dict(e, seconds=time.perf_counter() - started))
    seed_all(a.seed)
    run_training(TrainConfig(coco=snap, out=work / f"{a.child}.pt", weights="none",
                             all_images=True, continuous=True, min_size=min_size,
                             max_size=min_size, anchors=anchors, eval_every=a.eval_every,
                             workers=0, batch_size=2, rois_per_image=128, seed=a.seed,
                             device="cpu", checkpoint_every_s=1e9), emit, cancel)
    (work / f"{a.child}.log.json").write_text(json.dumps(log))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/work/shared/data/nuclei")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=40)
    p.add_argument("--arrive-every", type=int, default=20)
    p.add_argument("--start-with", type=int, default=4)
    p.add_argument("--settings", default="half,anchors,upscaled")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--coverage-only", action="store_true", help="the anchor fit only")
    p.add_argument("--child", default=None)
    p.add_argument("--work", default=None)
    a = p.parse_args()
    if a.child:
        child(a)
        return
    from model.data.coco import save_dataset
    with tempfile.TemporaryDirectory(prefix="bench-learn-") as tmp:
        work = Path(tmp)
        ds = make_tiles(Path(a.data), work)
        save_dataset(ds, work / "all.json")
        print("anchor fit (no training): share of nuclei boxes with an anchor of IoU >= 0.7 / "
              ">= 0.5, median best IoU")
        for name, (min_size, anchors) in SETTINGS.items():
            c = coverage(ds, min_size, anchors)
            print(f"{name:9s} min_size {min_size:3d} anchors {','.join(map(str, c['sizes']))}: "
                  f"{c['iou70']:.2f} / {c['iou50']:.2f}, median {c['median']:.2f} "
                  f"(fit's estimate {c['estimate']:.2f}) "
                  f"({c['boxes']} boxes)", flush=True)
        if a.coverage_only:
            return
        results = {}
        for name in a.settings.split(","):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bench.learn", "--child", name, "--work", tmp,
                            "--iterations", str(a.iterations), "--eval-every", str(a.eval_every),
                            "--arrive-every", str(a.arrive_every), "--start-with",
                            str(a.start_with), "--seed", str(a.seed)], check=True, cwd=ROOT)
            results[name] = (time.perf_counter() - t,
                             json.loads((work / f"{name}.log.json").read_text()))
    print(f"held-out segm AP by iteration (nuclei, 16 tiles of {TILE} px arriving, weights "
          f"none, batch 2, CPU; seed {a.seed})")
    for name, (seconds, log) in results.items():
        min_size, anchors = SETTINGS[name]
        info = [e["message"] for e in log if e["event"] == "info" and "anchors" in e["message"]]
        points = [(e["iteration"], e["images"], e["ap"]) for e in log if e["event"] == "heldout"]
        curve = "  ".join(f"{it}:{'-' if ap is None else f'{ap:.3f}'}({n})"
                          for it, n, ap in points)
        print(f"{name:9s} min_size {min_size:3d} anchors {anchors:4s} {seconds / 60:5.1f} min  "
              f"{curve}" + (f"  [{info[0]}]" if info else ""))


if __name__ == "__main__":
    main()
