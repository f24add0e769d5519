"""Scale of the COCO store: load, save and export of a large COCO file against
pycocotools' own COCO() load of the same file, in the same run.

    python -m bench.coco_scale [--images 10000] [--per-image 19.6] [--keep DIR]

The file is generated: 640x480 images, objects as COCO writes them (polygons for
most, compressed RLE for a fifth, crowd RLE for a few), about 116 MB at the
default size. Each route runs in a fresh process; time is wall clock, memory the
process's peak RSS (ru_maxrss), imports included for both. Targets: export at
most 5x the time and 3x the peak memory of pycocotools' load.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench._results import add_no_write_option, write_section  # noqa: E402

H, W = 480, 640


def make_file(path: Path, n_images: int, per_image: float, seed: int = 0) -> int:
    """Write the COCO file; returns the number of annotations."""
    from model.data import masks as M
    rng = np.random.default_rng(seed)
    images, anns = [], []
    aid = 1
    for i in range(1, n_images + 1):
        images.append({"id": i, "file_name": f"images/{i:06d}.jpg", "width": W, "height": H})
        for _ in range(rng.poisson(per_image)):
            cx, cy = rng.uniform(40, W - 40), rng.uniform(40, H - 40)
            r = rng.uniform(6, 60)
            k = int(rng.integers(12, 40))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            rad = r * rng.uniform(0.6, 1.0, k)
            xs = np.clip(cx + rad * np.cos(ang), 0, W - 1)
            ys = np.clip(cy + rad * np.sin(ang), 0, H - 1)
            poly = [round(float(v), 2) for xy in zip(xs, ys) for v in xy]
            crowd = rng.random() < 0.01
            seg = [poly]
            if crowd or rng.random() < 0.2:
                seg = M.to_compressed_rle(seg, H, W)
            x0, y0 = float(xs.min()), float(ys.min())
            anns.append({"id": aid, "image_id": i, "category_id": int(rng.integers(1, 81)),
                         "segmentation": seg, "area": float(np.pi * r * r * 0.7),
                         "bbox": [x0, y0, float(xs.max()) - x0, float(ys.max()) - y0],
                         "iscrowd": int(crowd)})
            aid += 1
    data = {"info": {"description": "coco_scale"}, "licenses": [], "images": images,
            "annotations": anns,
            "categories": [{"id": c, "name": f"class{c}", "supercategory": "thing"}
                           for c in range(1, 81)]}
    path.write_text(json.dumps(data, separators=(",", ":")))
    return len(anns)


ROUTES = {
    "pycocotools COCO() load": "from pycocotools.coco import COCO\nCOCO({src!r})",
    "MaskLoop load": "from model.data.coco import load_dataset\nload_dataset({src!r})",
    "MaskLoop load + save (GUI Save)": (
        "from model.data.coco import load_dataset, save_dataset\n"
        "save_dataset(load_dataset({src!r}), {dst!r})"),
    "MaskLoop export --format rle": "from model.cli.entry import main\nmain(['export', {src!r}, '--out', {dst!r}])",
    "MaskLoop export --format polygon": (
        "from model.cli.entry import main\nmain(['export', {src!r}, '--out', {dst!r}, '--format', 'polygon'])"),
}


GUI_AUTOSAVE = """
import os, random, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.document.document import Document
from app.document.session import Session
from model.editing.user_actions import review_edit
doc = Document(); s = Session(doc, 0)
t = time.perf_counter(); s.open({src!r}); opened = time.perf_counter() - t
for rec in doc.dataset.images:  # every annotation also as a cached prediction
    preds = [i.copy() for i in rec.instances]
    for p in preds:
        p.original, p.source, p.score, p.id = None, "model", 0.5, None
    doc.apply_predictions(rec, preds, [], "bench", dedup=False)
t = time.perf_counter(); s.write_predictions(force=True); first = time.perf_counter() - t
s.writer.wait()
ticks, rng = [], random.Random(0)
for _ in range(5):
    for rec in rng.sample(doc.dataset.images, 20):  # a few minutes of reviewing
        doc.push(review_edit(rec, rec.instances[:1], "accepted"))
    t = time.perf_counter(); s.autosave(); ticks.append(time.perf_counter() - t)
    w = time.perf_counter(); s.writer.wait(); bg = time.perf_counter() - w
t = time.perf_counter(); s.save({dst!r}); save = time.perf_counter() - t
s.close()
print(opened, first, max(ticks), bg, save)
"""


def gui_autosave(src: Path, dst: Path) -> list[float]:
    code = GUI_AUTOSAVE.format(src=str(src), dst=str(dst))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    return [float(v) for v in out.stdout.strip().splitlines()[-1].split()]


def run_route(code: str) -> tuple[float, float]:
    """(seconds, peak RSS GiB) of `code` in a fresh interpreter."""
    probe = ("import resource, sys, time\nt = time.perf_counter()\n%s\n"
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
             % code)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    secs, kib = out.stdout.strip().splitlines()[-1].split()
    return float(secs), int(kib) / 1024 ** 2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--per-image", type=float, default=19.6)
    ap.add_argument("--keep", default=None, help="write the file here and keep it")
    add_no_write_option(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        src, dst = folder / "scale.json", folder / "out.json"
        t = time.perf_counter()
        n = make_file(src, args.images, args.per_image)
        size = src.stat().st_size / 1e6
        print(f"generated {src}: {args.images} images, {n} annotations, {size:.0f} MB "
              f"in {time.perf_counter() - t:.0f} s", flush=True)
        res = {}
        for name, code in ROUTES.items():
            res[name] = run_route(code.format(src=str(src), dst=str(dst)))
            print(f"{name}: {res[name][0]:.1f} s, peak {res[name][1]:.2f} GiB", flush=True)
            dst.unlink(missing_ok=True)
        opened, first, tick, bg, save = gui_autosave(src, dst)
        print(f"GUI: open {opened:.1f} s; autosave on the UI thread {tick * 1000:.0f} ms", flush=True)
    base_t, base_m = res["pycocotools COCO() load"]
    lines = [f"workload: generated COCO file, {args.images} images of {W}x{H}, {n} annotations "
             f"(4/5 polygons, 1/5 RLE, 1% crowd), {size:.0f} MB; each route in a fresh process, "
             "peak RSS includes imports"]
    for name, (secs, mem) in res.items():
        lines.append(f"{name}: {secs:.1f} s, peak {mem:.2f} GiB (time ratio {secs / base_t:.2f}, "
                     f"memory ratio {mem / base_m:.2f})")
    ex_t, ex_m = res["MaskLoop export --format rle"]
    lines.append(f"export vs pycocotools load: time {ex_t / base_t:.2f}x (target <= 5), peak "
                 f"memory {ex_m / base_m:.2f}x (target <= 3)")
    lines.append(f"app (Document + Session, offscreen), with every annotation also a cached "
                 f"prediction: open {opened:.1f} s; autosave after 20 image changes: "
                 f"**{tick * 1000:.0f} ms on the UI thread** (target < 50), {bg:.1f} s on the "
                 f"writer thread; the first full prediction-cache snapshot {first * 1000:.0f} ms "
                 f"(once, after predicting); Save (Ctrl+S) {save:.1f} s")
    print("\n".join(lines))
    if not args.no_write:
        write_section("coco-scale", "bench/coco_scale.py", lines)


if __name__ == "__main__":
    main()
