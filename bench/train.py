"""Benchmark: MaskLoop's training loop against a plain loop written the way
torchvision's detection reference does it (references/detection/engine.py
train_one_epoch: a dataset that opens each image with PIL and rasterises each
COCO annotation with pycocotools, a DataLoader, model(images, targets), sum of
losses, backward, step), on the same data, model and settings, CPU.

Each route runs in its own child process; the timed window is one epoch after a
few warm-up iterations, so per-epoch work (validation, checkpoints) is left out of
both. Peak memory is the whole process tree (loader workers included).
Where a CUDA GPU is present it also records AMP against fp32 for MaskLoop's loop.

Real data: `--data COCO.json` trains on that file's images and polygons instead (for
example ../shared/data/coco_sample/instances.json, 16 photos with 4.5 instances each, at
--size 512 on the CPU; any COCO file on a GPU). `--curve 100,200,300` then also runs
bench/learning.py on it: val segm AP of both routes at those iteration counts.
A user's own run (issue 29: 1-2 MP photos of one class, resized to 384-640 px while
training): `--one-class --long-side 1600 --sizes 384,640` trains on a copy of the photos
with their classes merged and upscaled to 1600x1200 (bench/_photos.py), each image drawn
at a shorter side from 384 to 640 (MaskLoop's scale jitter; the plain loop gets the same
sizes, torchvision's transform draws one per image in both). The time of the timed
iterations, epoch ends included, is compared as well as the median iteration.

Usage: python bench/train.py [--images 24] [--size 256] [--workers 2]
       python bench/train.py --data COCO.json --size 512 [--curve 100,200,300]
       python bench/train.py --data COCO.json --one-class --long-side 1600 --sizes 384,640
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from bench._memory import PeakMemory, tree_rss  # noqa: E402
from bench._photos import describe  # noqa: E402
from bench._results import gpu_label, add_no_write_option, write_section  # noqa: E402

WARMUP = 3
USED = {"workers": None}  # what MaskLoop's loop chose (it caps workers by the free cores)
LR = 0.0005  # small enough that random init stays finite without clipping (the plain loop has none)


def make_data(folder: Path, n: int, size: int) -> Path:
    from model.data.synthetic import shapes_dataset  # the tests' synthetic shapes, at bench size
    return shapes_dataset(folder, n=n, seed=3, size=size)


# ------------------------------------------------------------------- plain route

def batches_per_epoch(coco: Path) -> int:
    return (len(json.loads(coco.read_text())["images"]) + 1) // 2


def sizes_of(a) -> tuple[int, int, float]:
    """MaskLoop's min_size, max_size and scale jitter for --size or --sizes LO,HI."""
    if not a.sizes:
        return a.size, a.max_size or a.size, 0.0
    lo, hi = (int(v) for v in a.sizes.split(","))
    return round((lo + hi) / 2), a.max_size or round(hi * 1333 / 800), (hi - lo) / (hi + lo)


def drawn_sizes(a) -> tuple[int, ...]:
    """The shorter sides an image is drawn at (MaskLoop's own rule, given to both)."""
    from model.training.config import TrainConfig
    from model.training.prepare import train_sizes
    size, _, jitter = sizes_of(a)
    return train_sizes(TrainConfig(coco=Path(), out=Path(), min_size=size, scale_jitter=jitter))


def plain_route(coco: Path, a) -> list[float]:
    """bench/_plain.py's loop: torchvision's build without weights, the reference's
    dataset and warm-up, then a constant rate (as MaskLoop's route below)."""
    from bench._plain import plain_train
    n_batches = batches_per_epoch(coco)
    stamps: list[float] = []
    plain_train(coco, drawn_sizes(a), a.iters, a.workers, a.device, batch=2,
                warmup=min(1000, n_batches - 1), lr=LR, schedule="constant", rois=128,
                stamps=stamps, max_size=sizes_of(a)[1])
    return stamps


def maskloop_route(coco: Path, a, amp: bool = True) -> list[float]:
    from model.training.config import TrainConfig
    from model.training.rng import seed_all
    from model.training.train import run_training
    stamps = []
    size, max_size, jitter = sizes_of(a)
    with tempfile.TemporaryDirectory() as tmp:
        # the reference's settings: its warm-up, a constant rate after it, no clipping
        n_batches = batches_per_epoch(coco)
        seed_all(0)  # as `main.py train` seeds its process (--seed 0)
        run_training(TrainConfig(coco=coco, out=Path(tmp) / "m.pt", weights="none",
                                 iterations=a.iters, min_size=size, max_size=max_size,
                                 scale_jitter=jitter, val_fraction=0.0, workers=a.workers,
                                 rois_per_image=128, lr=LR, device=a.device, amp=amp,
                                 schedule="constant", clip_grad=0.0,
                                 warmup_iters=min(1000, n_batches - 1), all_images=True),
                     lambda e: stamps.append(time.perf_counter()) if e["event"] == "iter"
                     else e["event"] == "start" and USED.update(workers=e["loader_workers"]))
    return stamps


def instances_per_image(coco: Path) -> float:
    doc = json.loads(coco.read_text())
    return len(doc["annotations"]) / max(1, len(doc["images"]))


def learning_curve(coco: Path, a) -> str:
    """bench/learning.py on this file: both routes, val segm AP at the --curve points."""
    points = sorted(int(p) for p in a.curve.split(","))
    got = subprocess.run([sys.executable, "-m", "bench.learning", "--coco", str(coco),
                          "--size", str(a.size), "--iterations", str(points[-1]),
                          "--curve", ",".join(map(str, points)), "--device", a.device,
                          "--routes", "plain,maskloop", "--no-write"],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return next(line for line in got.splitlines() if line.startswith("learning curve"))


def child(args) -> None:
    import torch
    torch.manual_seed(0)
    coco = Path(args.coco)
    with PeakMemory(tree_rss, interval=0.01) as peak:
        if args.child == "plain":
            stamps = plain_route(coco, args)
        else:
            stamps = maskloop_route(coco, args, amp=args.child != "maskloop-fp32")
    timed = stamps[WARMUP:]
    steps = [b - a for a, b in zip(timed, timed[1:])]
    gpu = torch.cuda.max_memory_allocated() if args.device.startswith("cuda") else 0
    Path(args.out).write_text(json.dumps({"steps": steps, "peak": peak.peak, "gpu": gpu,
                                          "workers": USED["workers"]}))


def summarise(results: list[dict]) -> dict:
    steps = sorted(s for r in results for s in r["steps"])
    return {"its": 1.0 / statistics.median(steps), "peak": max(r["peak"] for r in results),
            "seconds": sum(sum(r["steps"]) for r in results),  # every timed iteration's time
            "gpu": max(r["gpu"] for r in results), "workers": results[0]["workers"],
            "runs": [round(len(r["steps"]) / sum(r["steps"]), 3) for r in results]}


def run_child(kind: str, coco: Path, a, tmp: Path) -> dict:
    out = tmp / f"{kind}.json"
    subprocess.run([sys.executable, "-m", "bench.train", "--child", kind, "--coco", str(coco), "--out",
                    str(out), "--size", str(a.size), "--iters", str(a.iters),
                    "--workers", str(a.workers), "--device", a.device]
                   + (["--sizes", a.sizes] if a.sizes else [])
                   + (["--max-size", str(a.max_size)] if a.max_size else []), check=True, cwd=ROOT)
    return json.loads(out.read_text())


def report(a, coco: Path, plain: dict, ours: dict, amp: dict | None) -> list[str]:
    """The section's lines from the routes' summaries (summarise())."""
    cuda = amp is not None
    gib = 1024 ** 3
    size, max_size, _ = sizes_of(a)
    drawn = drawn_sizes(a)
    at = (f"shorter side drawn per image from {', '.join(map(str, drawn))}, longer side "
          f"<= {max_size}" if len(drawn) > 1 else f"min_size {size}")
    what = (f"{a.images} images of {Path(a.data).parent.name}"
            f"{describe(a.one_class, a.long_side)} ({instances_per_image(coco):.1f} instances "
            f"each), {at}" if a.data else f"{a.images} synthetic {a.size}x{a.size} images")
    load = os.getloadavg()
    lines = [
        f"workload: {what}, Mask R-CNN v1 from random init, "
        f"batch 2, 128 RoIs/image, {a.workers} loader workers, {a.device}, iterations "
        f"{WARMUP + 1}..{a.iters} timed ({batches_per_epoch(coco)} a epoch: epoch ends "
        f"included), {a.repeat} alternating runs per route; load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)",
        f"plain reference-style loop: {plain['its']:.3f} it/s, peak {plain['peak'] / gib:.2f} GiB "
        f"(main process and loader workers)",
        f"MaskLoop loop{' (fp32)' if cuda else ''}: {ours['its']:.3f} it/s, "
        f"peak {ours['peak'] / gib:.2f} GiB, {ours['workers']} loader workers (capped by free cores)",
        f"each run's mean it/s: plain {plain['runs']}, MaskLoop {ours['runs']}",
        f"speed ratio {ours['its'] / plain['its']:.3f} (median iteration, target >= 1.0), "
        f"peak-memory ratio {ours['peak'] / plain['peak']:.3f}",
        f"time of the timed iterations: plain {plain['seconds']:.1f} s, MaskLoop "
        f"{ours['seconds']:.1f} s: time ratio {ours['seconds'] / plain['seconds']:.3f} "
        f"(MaskLoop / plain, target <= 1.0)",
    ]
    if amp:
        lines += [f"GPU peak allocated: plain {plain['gpu'] / gib:.2f} GiB, MaskLoop fp32 "
                  f"{ours['gpu'] / gib:.2f} GiB, MaskLoop AMP {amp['gpu'] / gib:.2f} GiB",
                  f"MaskLoop AMP (its default on CUDA): {amp['its']:.3f} it/s, "
                  f"{amp['its'] / ours['its']:.2f}x its fp32 loop, {amp['its'] / plain['its']:.2f}x "
                  f"the plain loop"]
    else:
        lines.append("AMP vs fp32: not measured (no CUDA GPU on this machine)")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--sizes", default=None, help="LO,HI: shorter sides drawn per image, "
                                                  "e.g. 384,640 (instead of --size)")
    ap.add_argument("--max-size", type=int, default=None,
                    help="longer side cap (default: --size; with --sizes HI x 1333/800)")
    ap.add_argument("--one-class", action="store_true", help="with --data: merge its classes")
    ap.add_argument("--long-side", type=int, default=None,
                    help="with --data: resize its images to this longer side (1600: 1-2 MP)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters", type=int, default=None, help="(default: one epoch)")
    ap.add_argument("--data", default=None, help="a COCO file of real images (default: "
                                                 "synthetic shapes)")
    ap.add_argument("--curve", default=None, help="with --data: iteration counts for the "
                                                  "learning curve (bench/learning.py)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per route (pooled)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--coco", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    add_no_write_option(ap)
    a = ap.parse_args()
    if a.child:
        child(a)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.data and (a.one_class or a.long_side):
            from bench._photos import photo_set
            coco = photo_set(Path(a.data).resolve(), tmp / "photos", a.one_class, a.long_side)
        else:
            coco = Path(a.data).resolve() if a.data else make_data(tmp / "data", a.images,
                                                                   a.size)
        a.images = len(json.loads(coco.read_text())["images"])
        a.iters = a.iters or max(WARMUP + 3, a.images // 2)
        # alternate the routes and pool their iterations: run-to-run noise here is as
        # large as the difference being measured, so the median iteration decides
        # on CUDA the like-for-like comparison is fp32 against fp32; AMP is reported apart
        cuda = a.device.startswith("cuda")
        ours_kind = "maskloop-fp32" if cuda else "maskloop"
        runs = {"plain": [], ours_kind: []} | ({"maskloop": []} if cuda else {})
        for _ in range(a.repeat):
            for kind in runs:
                runs[kind].append(run_child(kind, coco, a, tmp))
        plain, ours = (summarise(runs[k]) for k in ("plain", ours_kind))
        amp = summarise(runs["maskloop"]) if cuda else None
        lines = report(a, coco, plain, ours, amp)  # reads the file: before it goes
        if a.data and a.curve:
            lines.append(learning_curve(coco, a))
    print("\n".join(lines))
    section = ("train-photos" if a.data and (a.one_class or a.long_side or a.sizes) else
               "train-real" if a.data else "train") + ("-cuda" if cuda else "")
    write_section(section, "bench/train.py", lines, gpu_label(a.device), write=not a.no_write)


if __name__ == "__main__":
    main()
