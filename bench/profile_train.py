"""Where a training iteration's time goes, on real photos with many instances.

../shared/data/coco_sample (16 COCO photos, their official polygons) at min_size 512,
from random weights, batch 2, on this machine's device (`--one-class --long-side 1600
--sizes 384,640`: the photos as a user's 1-class project of 1-2 MP photos, drawn at a
shorter side of 384-640, bench/_photos.py):
- the loader, per sample: MaskLoop's TrainSet against the plain loop's PIL +
  pycocotools dataset (bench/_plain.py), same images, in this process, with the decoding
  apart from the target building;
- the parts that differ between the two loops, on the same batches and model: the
  model's input transform (resize, normalise, batch) of each loader's tensors, the
  per-iteration checks and logging (MaskLoop: the random state kept, the loss terms
  fetched and checked; plain: loss.item()), and MaskLoop's epoch end (the weights'
  finiteness check, the random state);
- per stage of MaskLoop's iteration (host seconds: waiting for data, copies to the
  device, forward, backward, gradient clipping, optimizer step, the rest: the loss
  transfer, progress output and bookkeeping), from the `stages` of its iter events;
- torch.profiler over a few iterations: the operators with the most self time.

Usage: python bench/profile_train.py [--iterations 24] [--device cpu]
       python bench/profile_train.py --one-class --long-side 1600 --sizes 384,640
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from bench._results import gpu_label, add_no_write_option, write_section  # noqa: E402

SKIP = 3  # warm-up iterations left out of the stage figures


def datasets(coco: Path, fit: tuple[int, int] | None = None):
    """MaskLoop's TrainSet as training builds it (shrunk to `fit`), the plain dataset."""
    from bench._plain import PlainCocoDataset
    from model.data.coco import load_dataset
    from model.training.data import LabelTable, TrainSet, select_samples
    ds = load_dataset(coco)
    samples, _ = select_samples(ds, all_images=True)
    return TrainSet(samples, LabelTable.from_dataset(ds), hflip=0.5, fit=fit), \
        PlainCocoDataset(coco), \
        samples


def loader_per_sample(coco: Path, fit: tuple[int, int] | None, rounds: int = 2
                      ) -> dict[str, float]:
    """Seconds per sample: MaskLoop's TrainSet and its decoding alone, the plain dataset
    and its PIL decoding alone; instances per image."""
    from PIL import Image
    from model.data.images import read_image
    ours, plain, samples = datasets(coco, fit)

    def per_sample(get) -> float:
        t = time.perf_counter()
        for _ in range(rounds):
            for i in range(len(ours)):
                get(i)
        return (time.perf_counter() - t) / (rounds * len(ours))
    got = {}
    for _ in range(2):  # the first pass warms the file cache for both
        got = {"ours": per_sample(lambda i: ours[i]),
               "ours_decode": per_sample(lambda i: read_image(samples[i].path)),
               "plain": per_sample(lambda i: plain[i]),
               "plain_decode": per_sample(lambda i: Image.open(
                   plain.root / plain.coco.imgs[plain.ids[i]]["file_name"]).convert("RGB"))}
    got["instances"] = statistics.mean(len(s.instances) for s in samples)
    return got


def route_parts(coco: Path, sizes: tuple[int, ...], max_size: int, rounds: int = 3
                ) -> dict[str, float]:
    """Seconds a batch of 2 for the parts where the two loops differ, alternating on the
    same batches and model (the forward and backward are the same work for both)."""
    import torch
    from bench._plain import plain_model
    from model.training.loop import fetch_losses
    from model.training.rng import rng_state, torch_rng_state
    from model.net.checkpoint_schema import non_finite_problem, optimizer_tensors
    ours, plain, _ = datasets(coco, (max(sizes), max_size))
    plain.hflip = False
    model = plain_model(2, sizes, 128, max_size).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    n = len(ours) - len(ours) % 2
    acc: dict[str, list[float]] = {}

    def timed(key: str, f):
        t = time.perf_counter()
        out = f()
        acc.setdefault(key, []).append(time.perf_counter() - t)
        return out
    for r in range(rounds):
        for b in range(0, n, 2):
            for route in ("plain", "ours"):
                items = [plain[i] if route == "plain" else ours[(i, False)] for i in (b, b + 1)]
                images = [im for im, _ in items]
                targets = [{k: v for k, v in t.items() if k != "image_id"} for _, t in items]
                torch.manual_seed(r * n + b)  # the same sizes drawn for both
                timed(f"transform_{route}", lambda: model.transform(images, targets))
            if b == 0:  # one forward and backward a round: the loss the checks read
                losses = model(images, targets)
                opt.zero_grad()
                sum(losses.values()).backward()
                opt.step()
            for route in ("plain", "ours"):
                if route == "plain":
                    timed("checks_plain", lambda: math.isfinite(sum(losses.values()).item()))
                else:
                    timed("checks_ours", lambda: (torch_rng_state(torch.device("cpu")),
                                                  math.isfinite(sum(fetch_losses(losses, None)[0]
                                                                    .values()))))
        timed("epoch_end_ours", lambda: (
            non_finite_problem(list(model.state_dict().items())
                               + optimizer_tensors(opt.state_dict())),
            rng_state(torch.device("cpu"))))
    return {k: statistics.median(v) for k, v in acc.items()}


def train_config(coco: Path, out: Path, iterations: int, device: str, a):
    """MaskLoop's defaults, at the sizes asked for (--size: min_size, max_size twice it)."""
    from bench.train import sizes_of
    from model.training.config import TrainConfig
    size, max_size, jitter = sizes_of(a)
    return TrainConfig(coco=coco, out=out, weights="none", iterations=iterations,
                       min_size=size, max_size=max_size, val_fraction=0.0, all_images=True,
                       device=device, **({"scale_jitter": jitter} if a.sizes else {}))


def stages(coco: Path, iterations: int, device: str, a) -> dict[str, float]:
    from model.training.rng import seed_all
    from model.training.train import run_training
    events = []
    with tempfile.TemporaryDirectory() as tmp:
        seed_all(0)  # as `main.py train` seeds its process (--seed 0)
        run_training(train_config(coco, Path(tmp) / "m.pt", iterations, device, a),
                     lambda e: events.append((time.perf_counter(), e)) if e["event"] == "iter"
                     else None)
    its = events[SKIP:]
    per_it = (its[-1][0] - its[0][0]) / (len(its) - 1)
    out = {k: statistics.mean(e["stages"][k] for _t, e in its[1:]) for k in its[1][1]["stages"]}
    out["other"] = per_it - sum(out.values())
    out["iteration"] = per_it
    return out


def profile(coco: Path, device: str, a, top: int = 8) -> list[str]:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    from model.training.rng import seed_all
    from model.training.train import run_training
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with tempfile.TemporaryDirectory() as tmp, torch_profile(activities=acts) as prof:
        seed_all(0)  # as `main.py train` seeds its process (--seed 0)
        run_training(train_config(coco, Path(tmp) / "m.pt", 4, device, a))
    key = "self_cuda_time_total" if device.startswith("cuda") else "self_cpu_time_total"
    rows = sorted(prof.key_averages(), key=lambda r: getattr(r, key), reverse=True)[:top]
    total = sum(getattr(r, key) for r in prof.key_averages())
    return [f"{r.key}: {getattr(r, key) / 1e6:.2f} s ({100 * getattr(r, key) / total:.1f} %, "
            f"{r.count} calls)" for r in rows]


def main() -> None:
    import os
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "coco_sample"
                                          / "instances.json"))
    ap.add_argument("--iterations", type=int, default=24)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--sizes", default=None, help="LO,HI: shorter sides drawn per image")
    ap.add_argument("--max-size", type=int, default=None)
    ap.add_argument("--one-class", action="store_true", help="merge the data's classes")
    ap.add_argument("--long-side", type=int, default=None,
                    help="resize the images to this longer side (1600: 1-2 MP)")
    ap.add_argument("--device", default="cpu")
    add_no_write_option(ap)
    a = ap.parse_args()
    if a.max_size is None and not a.sizes:
        a.max_size = 2 * a.size
    from bench._photos import describe, photo_set
    from bench.train import drawn_sizes, sizes_of
    with tempfile.TemporaryDirectory() as tmp:
        coco = Path(a.data)
        if a.one_class or a.long_side:
            coco = photo_set(coco.resolve(), Path(tmp), a.one_class, a.long_side)
        drawn, max_size = drawn_sizes(a), sizes_of(a)[1]
        got = loader_per_sample(coco, (drawn[-1], max_size))  # as training shrinks them
        at = f"shorter side {drawn[0]}..{drawn[-1]}" if len(drawn) > 1 else f"min_size {a.size}"
        lines = [f"data: {Path(a.data).parent.name}{describe(a.one_class, a.long_side)} "
                 f"({got['instances']:.1f} instances per image), {at}, longer side <= "
                 f"{max_size}, random weights, batch 2, {a.device}",
                 f"loader per sample: MaskLoop {got['ours'] * 1000:.1f} ms (decoding "
                 f"{got['ours_decode'] * 1000:.1f} ms), plain PIL + pycocotools "
                 f"{got['plain'] * 1000:.1f} ms (decoding {got['plain_decode'] * 1000:.1f} ms): "
                 f"{got['ours'] / got['plain']:.2f}x"]
        print(lines[-1], flush=True)
        if a.sizes or a.long_side:
            parts = route_parts(coco, drawn, max_size)
            ms = {k: v * 1000 for k, v in parts.items()}
            lines.append(
                f"where the loops differ, ms a batch of 2 (same batches and model, medians): "
                f"input transform (resize, normalise, batch) of MaskLoop's tensors "
                f"{ms['transform_ours']:.1f}, of the plain loop's {ms['transform_plain']:.1f}; "
                f"checks and logging: MaskLoop {ms['checks_ours']:.2f} (random state kept, loss "
                f"terms fetched and checked), plain {ms['checks_plain']:.2f} (loss.item()); "
                f"MaskLoop's epoch end (weights and momentum finiteness, random state) "
                f"{ms['epoch_end_ours']:.0f} ms an epoch")
            print(lines[-1], flush=True)
        st = stages(coco, a.iterations, a.device, a)
        it = st.pop("iteration")
        lines.append(f"MaskLoop iteration (train's defaults: 512 RoIs/image, clipped) {it:.2f} s: "
                     + ", ".join(f"{k} {v:.3f} s ({100 * v / it:.0f} %)" for k, v in st.items()))
        print(lines[-1], flush=True)
        lines.append("torch.profiler, 4 iterations, most self time: " + "; ".join(
            profile(coco, a.device, a)))
        print(lines[-1])
    load = os.getloadavg()
    lines.append(f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    section = "profile-train-photos" if a.sizes or a.long_side or a.one_class else "profile-train"
    write_section(section + ("-cuda" if a.device.startswith("cuda") else ""),
                  "bench/profile_train.py", lines, gpu_label(a.device), write=not a.no_write)


if __name__ == "__main__":
    main()
