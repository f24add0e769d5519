"""Fidelity of the export formats on real masks, and their memory on a hostile file.

    python bench/formats_fidelity.py [--data /work/shared/data] [--no-memory]

For coco_sample (16 COCO images, official polygons) and nuclei (one microscopy image,
125 nuclei as RLE), each format is written and read back as its readers read it:
  - coco-polygon: pycocotools' rasterisation of the written polygons (or the RLE kept);
  - coco-polygon-only: all polygons, and `segmentation[0]` alone (Label Studio's
    importer reads only that one);
  - yolo-seg, labelme: pycocotools' rasterisation of what was written (the writers'
    reports), masks: the PNGs read back.
Per format: mean and worst mask IoU against the source mask, the worst pixel change,
and how many single-part instances (one source polygon, or one connected part) came
out as several polygons. coco-polygon is given the coco-rle file, so that it converts
every mask. The baseline, in the same run, is the polygon-only writer before issue 18
(one polygon a connected part) as Label Studio reads it.

The memory part runs tests/model/test_export_memory.py's export of a 14000 x 14000 image
(ten full-image uncompressed RLE masks, one of 2,000,000 runs) to every format in one
child process and reports its peak resident memory after each (target <= 1 GiB).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._results import write_section  # noqa: E402
from model.data import masks as M
from model.data.coco import load_dataset
from model.formats.detect import open_any  # noqa: E402
from model.formats.export import export  # noqa: E402
from model.data.polygons import mask_to_polygons


def _truth(path: Path) -> list[tuple[int, np.ndarray, int, int, bool]]:
    """(id, full mask, h, w, single-part) per non-crowd instance of a COCO file."""
    ds = load_dataset(path)
    out = []
    for rec in ds.images:
        ds.ensure_size(rec)
        for inst in rec.instances:
            if inst.iscrowd:
                continue
            seg = inst.original.get("segmentation")
            full = inst.full_mask(rec.height, rec.width)
            if isinstance(seg, list):
                single = len(seg) == 1
            else:
                single = cv2.connectedComponents(full.view(np.uint8), connectivity=8)[0] == 2
            out.append((inst.id, full, rec.height, rec.width, single))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _line(name: str, ious: list[float], changes: list[int], split: int | str) -> str:
    return (f"{name}: mean IoU {np.mean(ious):.4f}, min {min(ious):.3f}, worst pixel change "
            f"{max(changes)}, pixel-identical {sum(c == 0 for c in changes)}/{len(changes)}, "
            f"single-part instances split into several polygons: {split}")


def _coco_out(truth, out: Path, first_only: bool = False) -> tuple[list, list, int]:
    anns = {a["id"]: a for a in json.loads(out.read_text())["annotations"]}
    ious, changes, split = [], [], 0
    for aid, full, h, w, single in truth:
        seg = anns[aid]["segmentation"]
        if isinstance(seg, list) and single and len(seg) > 1:
            split += 1
        if first_only and isinstance(seg, list):
            seg = seg[:1]
        back = M.paste(*M.decode_segmentation(seg, h, w), h, w)
        ious.append(_iou(back, full))
        changes.append(int((back ^ full).sum()))
    return ious, changes, split


def _per_part(truth) -> tuple[list, list, int]:
    """The previous polygon-only writer: one polygon per connected part, simplified at
    0.5 px, in OpenCV's order; Label Studio takes the first."""
    ious, changes, split = [], [], 0
    for _aid, full, h, w, single in truth:
        polys, _ = mask_to_polygons(*M.tight_crop(full), 0.5)
        split += single and len(polys) > 1
        back = M.paste(*M.decode_segmentation(polys[:1], h, w), h, w)
        ious.append(_iou(back, full))
        changes.append(int((back ^ full).sum()))
    return ious, changes, split


def fidelity(src: Path, tmp: Path) -> list[str]:
    truth = _truth(src)
    lines = [f"{src.parent.name}: {len(truth)} instances "
             f"({sum(t[4] for t in truth)} single-part)"]
    lines.append(_line("baseline, one polygon a part (the polygon-only writer before "
                       "issue 18) read as Label Studio reads it", *_per_part(truth)))
    rle = tmp / f"{src.parent.name}_coco-rle.json"
    for fmt in ("coco-rle", "coco-polygon", "coco-polygon-only"):
        out = tmp / f"{src.parent.name}_{fmt}.json"
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # coco-polygon converts every mask
            res = export(load_dataset(rle if fmt == "coco-polygon" else src), out, fmt)
        took = time.perf_counter() - t
        ious, changes, split = _coco_out(truth, out)
        lines.append(_line(f"{fmt} ({took:.1f} s)", ious, changes, split))
        if fmt == "coco-polygon":
            kinds = [isinstance(a["segmentation"], list)
                     for a in json.loads(out.read_text())["annotations"]]
            lines[-1] += f"; {sum(kinds)} written as polygons, {len(kinds) - sum(kinds)} as RLE"
        if fmt == "coco-polygon-only":
            lines[-1] += f"; report: {res.lines[0].split(': ', 1)[1]}"
            ious, changes, _ = _coco_out(truth, out, first_only=True)
            lines.append(_line("coco-polygon-only read as Label Studio reads it "
                               "(segmentation[0] only)", ious, changes, "-"))
    for fmt in ("yolo-seg", "labelme", "masks"):
        out = tmp / f"{src.parent.name}_{fmt}"
        res = export(load_dataset(src), out, fmt)
        lines.append(f"{fmt}: {res.lines[0].split(': ', 1)[1]}")
        if fmt == "masks":
            back = open_any(out)
            got = sorted(int(i.mask.sum()) for _, i in back.instances())
            want = sorted(int(t[1].sum()) for t in truth)
            lines[-1] += f"; read back: pixel counts identical {got == want}"
    return lines


def memory(tmp: Path) -> list[str]:
    from bench.memory_probe import CHILD, FORMATS, hostile_file, limit_memory
    src = tmp / "hostile.json"
    hostile_file(src)
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CHILD, str(src), str(tmp), *FORMATS], cwd=ROOT,
                       preexec_fn=limit_memory, capture_output=True, text=True)
    peaks = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("PEAK ")]
    shown = ", ".join(f"{fmt} {int(peak) / 1024 ** 2:.0f} MiB (rc {rc})"
                      for _, fmt, rc, peak in peaks)
    return [f"14000x14000 image, 10 full-image uncompressed RLE masks + one of 2,000,000 runs, "
            f"every format in one process ({time.perf_counter() - t:.0f} s): peak resident "
            f"after each: {shown} (target <= 1024 MiB)"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in ("coco_sample", "nuclei"):
            lines += fidelity(args.data / name / "instances.json", tmp)
        if not args.no_memory:
            lines += memory(tmp)
    for line in lines:
        print(line)
    write_section("formats-fidelity", "bench/formats_fidelity.py", lines)


if __name__ == "__main__":
    main()
