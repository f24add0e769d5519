"""Benchmark: Predictor.predict against the plain torchvision route, on a 12 MP image.

Workload: one 4000x3000 photo, Mask R-CNN v1 with random weights (seed 0),
score threshold 0 so the box head keeps up to 100 detections, CPU.

Routes, each run in a fresh child process so peak memory is its own:
  torchvision: model([tensor]) -> masks > 0.5 -> pycocotools RLE encode per mask
  maskloop:    Predictor.predict(rgb) -> encode_rle of each cropped mask
  forward:     the bare model forward on the same image already resized to the model's
               size (as a float tensor): what Predictor.predict's overhead is measured against
Both produce the same RLE strings; the script checks that too.

Prints latency and peak-memory ratios (maskloop / torchvision) and writes them
to bench/RESULTS.md. Usage: python -m bench.predict [--runs 2] [--size 4000x3000]
[--device cuda]. On CUDA both routes run in fp32 (so the RLE must match) and a third,
maskloop-amp, runs MaskLoop with fp16 autocast (amp=True); peak memory is then the GPU's
(torch.cuda.max_memory_allocated) and the section is "predict-cuda".
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
from bench._memory import PeakMemory, rss_bytes  # noqa: E402
from bench._results import gpu_label, add_no_write_option, write_section  # noqa: E402


def make_image(size: tuple[int, int]):
    import cv2
    from model.data.images import read_image
    img = read_image(ROOT / "resources" / "demo" / "astronaut.png")
    return cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)


def child(route: str, runs: int, size: tuple[int, int], out: str, device: str,
          threads: int | None) -> None:
    import numpy as np
    import torch
    from pycocotools import mask as mask_utils

    from model.data import masks as M
    from model.net.devices import configure_cpu_threads
    from model.net.predictor import Predictor

    # every route on the same CPU budget: the app's (all cores but the UI's) unless told
    if threads:
        torch.set_num_threads(threads)
    else:
        configure_cpu_threads(reserve=1)
    torch.manual_seed(0)
    pred = Predictor(weights="none", device=device, score_threshold=0.0,
                     amp=route == "maskloop-amp")
    cuda = pred.device.type == "cuda"
    img = make_image(size)
    h, w = img.shape[:2]
    pred.predict(img[:480, :640].copy())  # warm-up on a small crop

    def torchvision_route():
        with torch.inference_mode():
            t = torch.from_numpy(img).to(pred.device).permute(2, 0, 1).float() / 255
            res = pred.model([t])[0]
            masks = (res["masks"][:, 0] > 0.5).cpu().numpy()
            rles = [mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))["counts"].decode()
                    for m in masks]
            return list(zip(res["labels"].cpu().tolist(), rles, masks.any(axis=(1, 2)).tolist()))

    def resized_tensor():
        # the tensor the model itself works on: the image at the model's size, as float
        t = torch.from_numpy(img).to(pred.device).permute(2, 0, 1).float() / 255
        scale = min(pred.min_size / min(h, w), pred.max_size / max(h, w))
        return torch.nn.functional.interpolate(
            t[None], scale_factor=scale, mode="bilinear", recompute_scale_factor=True,
            align_corners=False)[0]
    small = resized_tensor() if route == "forward" else None

    def forward_route():
        with torch.inference_mode():
            res = pred.model([small])[0]
            return [0] * int(res["masks"].cpu().shape[0])

    def maskloop_route():
        return [M.encode_rle(i.mask, i.offset, h, w)["counts"] for i in pred.predict(img)]

    def comparable(result):
        # MaskLoop drops empty masks and COCO's unused 'N/A' labels; compare the rest
        if route == "forward":
            return []
        if route != "torchvision":
            return result
        return [r for label, r, nonempty in result
                if nonempty and pred.label_categories[label] is not None]

    fn = {"torchvision": torchvision_route, "forward": forward_route}.get(route, maskloop_route)
    base = torch.cuda.memory_allocated() if cuda else rss_bytes()
    times, peak, rles = [], 0, []
    for _ in range(runs):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        with PeakMemory() as mon:
            t0 = time.perf_counter()
            rles = fn()  # ends in host numpy arrays, so the GPU is done too
            times.append(time.perf_counter() - t0)
        peak = max(peak, (torch.cuda.max_memory_allocated() if cuda else mon.peak) - base)
    Path(out).write_text(json.dumps({"times": times, "peak": peak, "rles": comparable(rles),
                                     "detections": len(rles),
                                     "resized": "x".join(map(str, small.shape[:0:-1]))
                                     if small is not None else None,
                                     "threads": torch.get_num_threads(),
                                     "device": torch.cuda.get_device_name(pred.device) if cuda
                                     else "CPU"}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads for every route (default: the app's, all cores "
                         "but one)")
    ap.add_argument("--child", choices=["torchvision", "maskloop", "maskloop-amp", "forward"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    add_no_write_option(ap)
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    if args.child:
        child(args.child, args.runs, size, args.out, args.device, args.threads)
        return
    cuda = args.device.startswith("cuda")
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for route in ("torchvision", "maskloop", "forward") + (("maskloop-amp",) if cuda else ()):
            out = os.path.join(tmp, route + ".json")
            subprocess.run([sys.executable, "-m", "bench.predict", "--child", route,
                            "--runs", str(args.runs), "--size", args.size, "--out", out,
                            "--device", args.device]
                           + (["--threads", str(args.threads)] if args.threads else []),
                           check=True, cwd=ROOT)
            res[route] = json.loads(Path(out).read_text())
    tv, ml = res["torchvision"], res["maskloop"]
    t_tv, t_ml = statistics.median(tv["times"]), statistics.median(ml["times"])
    same = tv["rles"] == ml["rles"]
    lat, mem = t_ml / t_tv, ml["peak"] / tv["peak"]
    gib = 1024 ** 3
    lines = [
        f"workload: {size[0]}x{size[1]} image, {tv['detections']} detections "
        f"({len(ml['rles'])} with a non-empty mask and a COCO label), random weights, "
        + (f"{ml['device']}, fp32, median of {args.runs}" if cuda else
           f"CPU, torch threads {ml['threads']}, median of {args.runs}"),
        f"torchvision route: {t_tv:.2f} s, peak +{tv['peak'] / gib:.2f} GiB{' GPU' if cuda else ''}",
        f"maskloop route:    {t_ml:.2f} s, peak +{ml['peak'] / gib:.2f} GiB{' GPU' if cuda else ''}",
        f"latency ratio {lat:.3f} (target <= 0.5), peak-memory ratio {mem:.3f} (target <= 0.1)",
        f"identical RLE output: {same}",
        f"overhead: Predictor.predict end to end (decode excluded: to tensor, resize, "
        f"normalise, model, paste, RLE) {t_ml:.2f} s against the bare model forward on the "
        f"same tensor already resized ({res['forward']['resized']}) "
        f"{statistics.median(res['forward']['times']):.2f} s: "
        f"**{t_ml / statistics.median(res['forward']['times']):.2f}x** (target <= 1.5)",
    ]
    if cuda:
        amp = res["maskloop-amp"]
        t_amp = statistics.median(amp["times"])
        agree = sum(a == b for a, b in zip(amp["rles"], ml["rles"]))
        lines.append(f"maskloop with fp16 autocast (amp=True): {t_amp:.3f} s "
                     f"({t_ml / t_amp:.2f}x fp32), peak +{amp['peak'] / gib:.2f} GiB GPU; "
                     f"{agree} of {len(ml['rles'])} masks identical to fp32, "
                     f"{len(amp['rles'])} masks in all")
    print("\n".join(lines))
    write_section("predict-cuda" if cuda else "predict", "bench/predict.py", lines,
                  gpu_label(args.device), write=not args.no_write)
    if not same:
        sys.exit("the two routes disagree on the masks")


if __name__ == "__main__":
    main()
