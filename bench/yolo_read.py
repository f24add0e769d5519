"""Reading one YOLO label file of many lines (issue 18, item 20: 10^6 lines took over
120 s and 1.4 GB; the target is 10 s).

    python -m bench.yolo_read [--lines 1000000] [--baseline-lines 10000]

Each route runs in a fresh process: time is wall clock and CPU time (the machine may be
shared), memory the process's peak RSS, imports included. The label file is generated on
a 640x640 image: triangles (7 numbers a line), 8-point polygons (17 numbers a line) and
detection boxes (5 numbers a line). The baseline is the reader before issue 18, one line at
a time (parse, rasterise with pycocotools, decode the crop), run on --baseline-lines lines,
since at 10^6 lines it takes minutes; the ratio compares both at that size.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench._results import add_no_write_option, write_section  # noqa: E402

SIZE = 640
SHAPES = {"triangles": 3, "8-point polygons": 8, "boxes": 0}


def make_folder(root: Path, n: int, points: int, seed: int = 0) -> Path:
    """images/a.png and labels/a.txt with n lines of the given shape (0 points: boxes)."""
    from PIL import Image
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    Image.new("L", (SIZE, SIZE)).save(root / "images" / "a.png")
    (root / "data.yaml").write_text("names: [a, b, c]\n")
    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(0.05, 0.95, n), rng.uniform(0.05, 0.95, n)
    r = rng.uniform(0.01, 0.04, n)
    cls = rng.integers(0, 3, n)
    if points:
        t = np.linspace(0, 2 * np.pi, points, endpoint=False)
        xs = np.clip(cx[:, None] + r[:, None] * np.cos(t), 0, 1)
        ys = np.clip(cy[:, None] + r[:, None] * np.sin(t), 0, 1)
        coords = np.stack([xs, ys], 2).reshape(n, -1)
    else:
        coords = np.stack([cx, cy, 2 * r, 2 * r], 1)
    body = np.concatenate([cls[:, None].astype(np.float64), coords], 1)
    fmt = " ".join(["%d"] + ["%.6f"] * coords.shape[1])
    np.savetxt(root / "labels" / "a.txt", body, fmt=fmt)
    return root


NEW = """
from model.formats.yolo import read_yolo
ds = read_yolo({root!r})
n = ds.num_instances()
"""

BASELINE = """
from model.data.annotations import Dataset, Instance
from model.formats.polygon_conversion import polygons_rle, rle_to_crop
from model.formats.yolo_labels import _box, parse_line
ds = Dataset()
rec = ds.add_image("a.png", {size}, {size})
h = w = {size}
for line in open({label!r}).read().splitlines():  # the reader before issue 18
    cls, c = parse_line(line, 3)
    px = [v * (w if i % 2 == 0 else h) for i, v in enumerate(c)]
    if len(c) == 4:
        inst = _box(ds, rec, cls, px)
    else:
        crop, offset = rle_to_crop(polygons_rle([px], h, w), h, w)
        inst = Instance(cls + 1, crop, offset)
    ds.add_instance(rec, inst)
n = ds.num_instances()
"""

RUNNER = """
import json, resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
{code}
print(json.dumps({{"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "n": n}}))
"""


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", RUNNER.format(code=code)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--baseline-lines", type=int, default=10_000)
    add_no_write_option(ap)
    args = ap.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, points in SHAPES.items():
            small = make_folder(Path(tmp) / f"{points}-small", args.baseline_lines, points)
            big = make_folder(Path(tmp) / f"{points}-big", args.lines, points)
            base = run(BASELINE.format(size=SIZE, label=str(small / "labels" / "a.txt")))
            new_small = run(NEW.format(root=str(small)))
            new = run(NEW.format(root=str(big)))
            assert base["n"] == new_small["n"] == args.baseline_lines and new["n"] == args.lines
            lines.append(
                f"{name}: {args.lines:,} lines in {new['wall']:.1f} s wall, {new['cpu']:.1f} s "
                f"CPU, peak RSS {new['rss_mb']:.0f} MB; at {args.baseline_lines:,} lines "
                f"{new_small['cpu']:.2f} s CPU against the per-line reader's "
                f"{base['cpu']:.2f} s ({base['cpu'] / max(new_small['cpu'], 1e-9):.0f}x; "
                f"linearly extrapolated, the per-line reader would take about "
                f"{base['cpu'] * args.lines / args.baseline_lines:.0f} s at {args.lines:,})")
            print(lines[-1], flush=True)
    lines.append("target (issue 18, item 20): 10^6 lines in at most 10 s. What is left is "
                 "numpy's float parser (about 0.2 us a number: 3.5 s for the 17 million "
                 "numbers of 8-point polygons) and two dicts (the annotation and its YOLO "
                 "polygon, issue 28), two lists and one Instance per line; a shared 2-core "
                 "machine makes wall time exceed CPU time")
    if not args.no_write:
        write_section("yolo-read", "bench/yolo_read.py", lines)


if __name__ == "__main__":
    main()
