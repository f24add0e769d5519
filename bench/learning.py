"""Benchmark: does fine-tuning make predictions better? On ../shared/data/nuclei.

The one 512x512 microscopy image (125 nuclei) is cut into random 256x256 crops:
training crops come from its left three quarters, validation crops from the right
quarter, so no validation pixel is ever trained on. From weights="none" (random
init, as no COCO weights can be downloaded here) the model trains for a fixed
budget; val segm AP is measured before and after with the same evaluate module.

Both routes train one after the other, each in a fresh process (so each sets up its
threads and loader workers as it would alone), on the same crops and schedule: the plain
loop (bench/_plain.py) and `main.py train --weights none` with its defaults (and, as
maskloop-gn, with GroupNorm instead of BatchNorm2d). Each route also keeps its model at
1/3 and 2/3 of the run: the learning curve.

Any COCO file instead (a GPU run on the user's own data): `--coco FILE --size 512`
holds out every fifth image; both routes train on the rest at that min_size.
`--curve 100,200` sets where the learning curve is read.

Usage: python -m bench.learning [--iterations 300] [--data ../shared/data/nuclei]
[--device cuda] [--routes plain,maskloop,maskloop-gn] (on CUDA the section is "learning-cuda")
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from bench._results import gpu_label, add_no_write_option, write_section  # noqa: E402
from model.net.checkpoint_file import snapshot_path

CROP = 256


NAMES = {"plain": "plain loop (torchvision's build without weights, PIL + pycocotools dataset, "
                  "fp32 SGD)",
         "maskloop": "main.py train --weights none (defaults: BatchNorm2d)",
         "maskloop-gn": "main.py train --weights none --norm group (GroupNorm(32))"}


def load_json(path: Path) -> dict:
    import json
    return json.loads(Path(path).read_text())


def make_crops(src: Path, out: Path, n_train: int, n_val: int, seed: int = 0) -> tuple[Path, Path]:
    import cv2
    import numpy as np
    from model.data.annotations import Dataset, Instance
    from model.data.coco import load_dataset, save_dataset
    from model.data.images import read_image
    src_ds = load_dataset(src / "instances.json")
    rec = src_ds.images[0]
    img = read_image(src_ds.image_path(rec))
    h, w = img.shape[:2]
    split = int(w * 0.75)  # train left of it, validate right of it
    rng = np.random.default_rng(seed)

    def build(n, x_lo, x_hi, name):
        ds = Dataset(src_ds.categories, image_root=out)
        for k in range(n):
            x0 = int(rng.integers(x_lo, max(x_lo + 1, x_hi - CROP + 1)))
            y0 = int(rng.integers(0, h - CROP + 1))
            crop = np.ascontiguousarray(img[y0:y0 + CROP, x0:x0 + CROP])
            fn = f"{name}_{k:03d}.png"
            cv2.imwrite(str(out / fn), crop[:, :, ::-1])
            r = ds.add_image(fn, crop.shape[1], crop.shape[0])
            r.status = "done"
            for inst in rec.instances:
                full = inst.full_mask(h, w)[y0:y0 + CROP, x0:x0 + CROP].copy()
                if name == "train":
                    full[:, max(0, split - x0):] = False  # nothing right of the split
                if full.sum() >= 20:
                    ds.add_instance(r, Instance(inst.category_id, full, review="accepted"))
        path = out / f"{name}.json"
        save_dataset(ds, path)
        return path
    return build(n_train, 0, split, "train"), build(n_val, split - CROP // 4, w, "val")


def val_ap(ckpt_or_none: str, val_json: Path, device: str, size: tuple[int, int] = (CROP, CROP)) -> dict:
    from model.data.coco import load_dataset
    from model.metrics.evaluate import evaluate, results_from_dataset
    from model.net.predictor import Predictor
    from model.data.images import read_image
    from model.data.annotations import Dataset
    import torch
    torch.manual_seed(0)
    gt = load_dataset(val_json)
    pred = Predictor(weights=ckpt_or_none, device=device, score_threshold=0.05,
                     min_size=size[0], max_size=size[1])
    # a MaskLoop checkpoint names the dataset's categories; the plain loop's state_dict
    # (and random weights) has labels 1..N in the order of the sorted category ids
    plain_ids = sorted(c.id for c in gt.categories)
    plain = not {c.id for c in pred.categories} <= set(plain_ids) or \
        all(c.name == f"class_{c.id}" for c in pred.categories)
    out = Dataset(gt.categories, image_root=gt.image_root)
    for rec in gt.images:
        r = out.add_image(rec.file_name, rec.width, rec.height)
        r.id = rec.id
        for inst in pred.predict(read_image(gt.image_path(rec))):
            if plain:
                if not 1 <= inst.category_id <= len(plain_ids):
                    continue
                inst.category_id = plain_ids[inst.category_id - 1]
            out.add_instance(r, inst)
    return evaluate(gt, results_from_dataset(out, gt))


def plain_route(train_json: Path, out: Path, a) -> float:
    """The plain loop's model, saved as the plain state_dict torchvision users keep."""
    import torch
    from bench._plain import plain_train
    torch.manual_seed(0)
    t = time.perf_counter()
    lo, hi = sizes(a)
    model = plain_train(train_json, lo, a.iterations, a.workers, a.device, batch=2,
                        warmup=a.warmup, max_size=hi,
                        snapshots={n: snapshot_path(out, n) for n in curve_points(a)})
    seconds = time.perf_counter() - t
    torch.save(model.state_dict(), out)
    return seconds


def maskloop_route(train_json: Path, out: Path, a, norm: str | None = None) -> float:
    from model.training.config import TrainConfig
    from model.training.rng import seed_all
    from model.training.train import run_training
    t = time.perf_counter()
    lo, hi = sizes(a)
    seed_all(0)  # as `main.py train` seeds its process (--seed 0)
    run_training(TrainConfig(coco=train_json, out=out, weights="none", all_images=True,
                             iterations=a.iterations, min_size=lo, max_size=hi,
                             val_fraction=0.0, workers=a.workers, rois_per_image=128,
                             batch_size=2, warmup_iters=a.warmup, device=a.device,
                             norm=norm,
                             snapshots=tuple(curve_points(a))))
    return time.perf_counter() - t


def run_child(route: str, train_json: Path, out: Path, a) -> float:
    """Train in a fresh process: each route sets up torch's threads and loader workers
    as it would alone (an evaluation in this process has already configured them)."""
    import subprocess
    timing = out.with_suffix(".seconds")
    subprocess.run([sys.executable, "-m", "bench.learning", "--child", route,
                    "--train-json", str(train_json),
                    "--out", str(out), "--iterations", str(a.iterations), "--warmup",
                    str(a.warmup), "--device", a.device, "--workers", str(a.workers),
                    "--size", str(a.size), "--curve", ",".join(map(str, curve_points(a)))]
                   + (["--coco", str(a.coco)] if a.coco else []), check=True, cwd=ROOT)
    return float(timing.read_text())


def curve_points(a) -> list[int]:
    """Where the learning curve is read, before the end (the end is the route's model)."""
    wanted = [int(p) for p in a.curve.split(",")] if a.curve else \
        [a.iterations // 3, 2 * a.iterations // 3]
    return sorted({n for n in wanted if 0 < n < a.iterations})


def sizes(a) -> tuple[int, int]:
    """min_size and max_size: crops are square; photos keep torchvision's 800:1333."""
    return (a.size, a.size) if not a.coco else (a.size, round(a.size * 1333 / 800))


def split_coco(src: Path, out: Path) -> tuple[Path, Path]:
    """Every fifth image (by id) held out; the images are linked (or copied) beside the
    two files, so both routes read them relative to their JSON."""
    import json
    import os
    import shutil
    doc = json.loads(src.read_text())
    ids = sorted(im["id"] for im in doc["images"])
    val_ids = set(ids[4::5]) or {ids[-1]}
    for im in doc["images"]:
        dst = out / im["file_name"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src.parent / im["file_name"], dst)
        except OSError:
            shutil.copyfile(src.parent / im["file_name"], dst)

    def part(name: str, keep) -> Path:
        part_doc = dict(doc, images=[im for im in doc["images"] if keep(im["id"])],
                        annotations=[a for a in doc["annotations"] if keep(a["image_id"])])
        path = out / f"{name}.json"
        path.write_text(json.dumps(part_doc))
        return path
    return part("train", lambda i: i not in val_ids), part("val", lambda i: i in val_ids)


def child(a) -> None:
    routes = {"plain": plain_route, "maskloop": maskloop_route,
              "maskloop-gn": lambda j, o, a: maskloop_route(j, o, a, norm="group")}
    seconds = routes[a.child](Path(a.train_json), Path(a.out), a)
    Path(a.out).with_suffix(".seconds").write_text(str(seconds))


def fmt(name: str, seconds: float | None, r: dict) -> str:
    took = f"{seconds / 60:.1f} min, " if seconds is not None else ""
    return (f"{name}: {took}val segm AP {r['segm']['AP'] or 0:.3f} (AP50 "
            f"{r['segm']['AP50'] or 0:.3f}), bbox AP {r['bbox']['AP'] or 0:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "nuclei"))
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--train-crops", type=int, default=40)
    ap.add_argument("--val-crops", type=int, default=6)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--routes", default="plain,maskloop,maskloop-gn", help="comma-separated")
    ap.add_argument("--coco", default=None, help="any COCO file instead of the nuclei crops")
    ap.add_argument("--size", type=int, default=None, help="min_size (crops: 256)")
    ap.add_argument("--curve", default=None, help="iterations where the curve is read")
    add_no_write_option(ap)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--train-json", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.size = args.size or CROP
    if args.child:
        child(args)
        return
    cuda = args.device.startswith("cuda")
    routes = args.routes.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.coco:
            train_json, val_json = split_coco(Path(args.coco), tmp)
            n_train, n_val = (len(load_json(p)["images"]) for p in (train_json, val_json))
            data = (f"{Path(args.coco).name} as {n_train} training and {n_val} held-out images "
                    f"(every fifth), min_size {sizes(args)[0]}")
        else:
            train_json, val_json = make_crops(Path(args.data), tmp, args.train_crops,
                                              args.val_crops)
            data = (f"nuclei (1 image, 125 nuclei) as {args.train_crops} training and "
                    f"{args.val_crops} held-out {CROP}x{CROP} crops (validation crops lie right "
                    "of the training region)")
        lines = [
            f"data: {data}; from random weights, {args.iterations} iterations, batch 2, "
            f"warm-up {args.warmup} then cosine, {'CUDA' if cuda else 'CPU'}",
            fmt("before training (random weights)", None,
                val_ap("none", val_json, args.device, sizes(args)))]
        print(lines[-1], flush=True)
        took, got, curve = {}, {}, {}
        for route in routes:
            out = tmp / f"{route}.pt"
            took[route] = run_child(route, train_json, out, args)
            got[route] = val_ap(str(out), val_json, args.device, sizes(args))
            curve[route] = [(val_ap(str(snapshot_path(out, n)), val_json, args.device,
                                    sizes(args))["segm"]["AP"] or 0) for n in curve_points(args)]
            curve[route].append(got[route]["segm"]["AP"] or 0)
            lines.append(fmt(NAMES[route], took[route], got[route]))
            print(lines[-1], flush=True)
        points = curve_points(args) + [args.iterations]
        lines.append(f"learning curve, val segm AP at {'/'.join(map(str, points))} iterations "
                     "(one cosine schedule; the earlier points are snapshots of the same run): " +
                     "; ".join(f"{r} " + "/".join(f"{v:.3f}" for v in c) for r, c in curve.items()))
        print(lines[-1], flush=True)
    if {"plain", "maskloop"} <= set(routes):
        d_ap = (got["maskloop"]["segm"]["AP"] or 0) - (got["plain"]["segm"]["AP"] or 0)
        ratio = took["maskloop"] / took["plain"]
        lines.append(f"MaskLoop - plain: val segm AP {d_ap:+.3f} (target >= -0.03), time "
                     f"{ratio:.2f}x (target <= 1.05)")
        print(lines[-1])
    if {"maskloop", "maskloop-gn"} <= set(routes):
        d_ap = (got["maskloop-gn"]["segm"]["AP"] or 0) - (got["maskloop"]["segm"]["AP"] or 0)
        lines.append(f"GroupNorm - BatchNorm2d (the from-scratch default): val segm AP "
                     f"{d_ap:+.3f}, time {took['maskloop-gn'] / took['maskloop']:.2f}x")
        print(lines[-1])
    if not args.no_write:
        section = ("learning-coco" if args.coco else "learning") + ("-cuda" if cuda else "")
        write_section(section, "bench/learning.py", lines, gpu_label(args.device))


if __name__ == "__main__":
    main()
