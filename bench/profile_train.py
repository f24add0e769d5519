"""Where a training iteration's time goes, on real photos with many instances.

../shared/data/coco_sample (16 COCO photos, their official polygons) at min_size 512,
from random weights, batch 2, on this machine's device:
- the loader, per sample: MaskLoop's TrainSet against the plain loop's PIL +
  pycocotools dataset (bench/_plain.py), same images, in this process;
- per stage of MaskLoop's iteration (host seconds: waiting for data, copies to the
  device, forward, backward, gradient clipping, optimizer step, the rest: the loss
  transfer, progress output and bookkeeping), from the `stages` of its iter events;
- torch.profiler over a few iterations: the operators with the most self time.

Usage: python bench/profile_train.py [--iterations 24] [--device cpu]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from bench._results import gpu_label, write_section  # noqa: E402

SKIP = 3  # warm-up iterations left out of the stage figures


def loader_per_sample(coco: Path, rounds: int = 2) -> tuple[float, float, float]:
    """Seconds per sample: MaskLoop's TrainSet, the plain dataset; instances per image."""
    from bench._plain import PlainCocoDataset
    from model.data.coco import load_dataset
    from model.training.data import LabelTable, TrainSet, select_samples
    ds = load_dataset(coco)
    samples, _ = select_samples(ds, all_images=True)
    ours = TrainSet(samples, LabelTable.from_dataset(ds), hflip=0.5)
    plain = PlainCocoDataset(coco)

    def per_sample(dataset) -> float:
        t = time.perf_counter()
        for _ in range(rounds):
            for i in range(len(dataset)):
                dataset[i]
        return (time.perf_counter() - t) / (rounds * len(dataset))
    per_sample(ours), per_sample(plain)  # file cache warm for both
    n = statistics.mean(len(s.instances) for s in samples)
    return per_sample(ours), per_sample(plain), n


def stages(coco: Path, iterations: int, device: str, size: int) -> dict[str, float]:
    from model.training.config import TrainConfig
    from model.training.rng import seed_all
    from model.training.train import run_training
    events = []
    with tempfile.TemporaryDirectory() as tmp:
        seed_all(0)  # as `main.py train` seeds its process (--seed 0)
        run_training(TrainConfig(coco=coco, out=Path(tmp) / "m.pt", weights="none",
                                 iterations=iterations, min_size=size, max_size=size * 2,
                                 val_fraction=0.0, all_images=True, device=device),
                     lambda e: events.append((time.perf_counter(), e)) if e["event"] == "iter"
                     else None)
    its = events[SKIP:]
    per_it = (its[-1][0] - its[0][0]) / (len(its) - 1)
    out = {k: statistics.mean(e["stages"][k] for _t, e in its[1:]) for k in its[1][1]["stages"]}
    out["other"] = per_it - sum(out.values())
    out["iteration"] = per_it
    return out


def profile(coco: Path, device: str, size: int, top: int = 8) -> list[str]:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    from model.training.config import TrainConfig
    from model.training.rng import seed_all
    from model.training.train import run_training
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with tempfile.TemporaryDirectory() as tmp, torch_profile(activities=acts) as prof:
        seed_all(0)  # as `main.py train` seeds its process (--seed 0)
        run_training(TrainConfig(coco=coco, out=Path(tmp) / "m.pt", weights="none",
                                 iterations=4, min_size=size, max_size=size * 2,
                                 val_fraction=0.0, all_images=True, device=device))
    key = "self_cuda_time_total" if device.startswith("cuda") else "self_cpu_time_total"
    rows = sorted(prof.key_averages(), key=lambda r: getattr(r, key), reverse=True)[:top]
    total = sum(getattr(r, key) for r in prof.key_averages())
    return [f"{r.key}: {getattr(r, key) / 1e6:.2f} s ({100 * getattr(r, key) / total:.1f} %, "
            f"{r.count} calls)" for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "coco_sample"
                                          / "instances.json"))
    ap.add_argument("--iterations", type=int, default=24)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    coco = Path(a.data)
    ours, plain, n = loader_per_sample(coco)
    lines = [f"data: {coco.parent.name} ({n:.1f} instances per image), min_size {a.size}, "
             f"random weights, batch 2, {a.device}",
             f"loader per sample: MaskLoop {ours * 1000:.1f} ms, plain PIL + pycocotools "
             f"{plain * 1000:.1f} ms ({ours / plain:.2f}x)"]
    print(lines[-1], flush=True)
    st = stages(coco, a.iterations, a.device, a.size)
    it = st.pop("iteration")
    lines.append(f"MaskLoop iteration {it:.2f} s: " + ", ".join(
        f"{k} {v:.3f} s ({100 * v / it:.0f} %)" for k, v in st.items()))
    print(lines[-1], flush=True)
    lines.append("torch.profiler, 4 iterations, most self time: " + "; ".join(
        profile(coco, a.device, a.size)))
    print(lines[-1])
    write_section("profile-train-cuda" if a.device.startswith("cuda") else "profile-train",
                  "bench/profile_train.py", lines, gpu_label(a.device))


if __name__ == "__main__":
    main()
