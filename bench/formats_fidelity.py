"""Fidelity of the export formats on real masks, and their memory on a hostile file.

    python -m bench.formats_fidelity [--data /work/shared/data] [--no-memory]

For coco_sample (16 COCO images, official polygons) and nuclei (one microscopy image,
125 nuclei as RLE), each format the registry writes (model/formats/registry.py) is
written and read back as its readers read it:
  - the COCO files (the file formats): each annotation against its source by id;
    coco-polygon: pycocotools' rasterisation of the written polygons (or the RLE kept);
    coco-polygon-only: all polygons, and `segmentation[0]` alone (Label Studio's
    importer reads only that one);
  - the folder formats: the writers' reports, which fill what was written by each
    format's reading rule (model/data/vertex_fill.py: yolo-seg, labelme); the folder read
    back by MaskLoop for those that say they keep every mask (masks, labelme).
Per format: mean and worst mask IoU against the source mask, the worst pixel change,
and how many single-part instances (one source polygon, or one connected part) came
out as several polygons. coco-polygon is given the coco-rle file, so that it converts
every mask. The baseline, in the same run, is the polygon-only writer before issue 18
(one polygon a connected part) as Label Studio reads it.

The tolerance part (issue 28, item 19) writes the polygon-only formats (registry: polygons) at
--tolerance 0 (the default) and 0.5: the mask IoU their readers get and the vertices.

The peer part (issue 28, item 11) reads MaskLoop's yolo-seg and labelme exports (default
--tolerance) the way each peer rasterises them: Ultralytics' polygon2mask,
supervision's from_yolo, labelme's shape_to_mask (the real tools where installed, else
the rule each documents: bench/_peers.py). Its baseline, in the same run, is the peer's
own round trip (its own writer, then its own reader) on the same masks: the ratio is
MaskLoop's mean IoU over it, and the objects MaskLoop's file gives a lower IoU than the
peer's own are counted. The files written before issue 28 (pycocotools' pixel-edge
polygons) are read the same way, and MaskLoop reads each peer's own file back and is
compared with the peer's reading of it and with the source. To use the real tools, run it
with a Python that has them besides MaskLoop's dependencies (not MaskLoop's own venv):
    python3 -m venv /work/peers/venv
    /work/peers/venv/bin/pip install torch==2.14.1 torchvision==0.29.1 pycocotools
    /work/peers/venv/bin/pip install ultralytics supervision labelme

The memory part runs tests/model/formats/test_export_memory.py's export of a 14000 x 14000 image
(ten full-image uncompressed RLE masks, one of 2,000,000 runs) to every format in one
child process and reports its peak resident memory after each (target <= 1 GiB).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench._results import add_no_write_option, write_section  # noqa: E402
from model.data import masks as M
from model.data.coco import load_dataset
from model.formats.detect import open_any  # noqa: E402
from model.formats import registry  # noqa: E402
from model.formats.export import export  # noqa: E402
from model.data.polygons import join_parts, mask_to_polygons  # noqa: E402
from model.formats.names import output_names  # noqa: E402


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
    writers = registry.writers()
    for fmt in (f.name for f in writers if f.kind == registry.FILE):  # COCO files
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
    whole = {"masks", "holes", "parts", "overlaps"}  # a format keeping these gives every mask back
    for f in (f for f in writers if f.kind == registry.FOLDER):
        fmt, out = f.name, tmp / f"{src.parent.name}_{f.name}"
        res = export(load_dataset(src), out, fmt)
        lines.append(f"{fmt}: {res.lines[0].split(': ', 1)[1]}")
        if whole <= f.keeps:
            back = open_any(out)
            got = sorted(int(i.mask.sum()) for _, i in back.instances())
            want = sorted(int(t[1].sum()) for t in truth)
            lines[-1] += f"; read back: pixel counts identical {got == want}"
    return lines


def _vertices(fmt: str, out: Path) -> str:
    """Polygon vertices written: what a person editing the polygons has to move (counted
    in the files of the formats this knows)."""
    if fmt == "coco-polygon-only":
        n = sum(len(p) // 2 for a in json.loads(out.read_text())["annotations"]
                for p in a["segmentation"])
    elif fmt == "yolo-seg":
        n = sum(len(ln.split()) // 2 for f in (out / "labels").rglob("*.txt")
                for ln in f.read_text().splitlines())
    elif fmt == "labelme":
        n = sum(len(s["points"]) for f in out.rglob("*.json") if not f.name.startswith(".")
                for s in json.loads(f.read_text())["shapes"])
    else:
        return "vertices not counted"
    return f"{n:,} vertices"


def tolerances(src: Path, tmp: Path) -> list[str]:
    """--tolerance 0 (the default) against 0.5 for each polygon-only format: the mask IoU
    its readers get (the export's report, by each format's reading rule) and the vertices
    written (item 19: what 0.5 costs and what it saves)."""
    out = []
    for fmt, suffix in ((f.name, f.suffix) for f in registry.writers() if f.polygons):
        parts = []
        for tol in (0.0, 0.5):
            dest = tmp / f"{src.parent.name}_{fmt}_tol{tol}{suffix}"
            with contextlib.redirect_stdout(io.StringIO()):
                res = export(load_dataset(src), dest, fmt, tol)
            said = res.lines[0]
            iou = said[said.index("mean mask IoU"):].split(";")[0]
            parts.append(f"--tolerance {tol:g}: {iou}, {_vertices(fmt, dest)}")
        out.append(f"{src.parent.name}, {fmt} as its readers read it: " + "; ".join(parts))
    return out


def _old_yolo_line(full: np.ndarray, h: int, w: int) -> str:
    """The yolo-seg line written before issue 28: pycocotools' pixel-edge polygons."""
    polys, _ = mask_to_polygons(*M.tight_crop(full), 0.5)
    poly = join_parts(polys)
    return "0 " + " ".join(f"{min(max(v / (w if k % 2 == 0 else h), 0), 1):.6f}"
                           for k, v in enumerate(poly))


def _exported(src: Path, tmp: Path) -> tuple[list[list[str]], list[list[dict]]]:
    """Per non-crowd instance, in _truth's order: its yolo-seg lines and labelme shapes
    as MaskLoop exports them (default tolerance)."""
    ds = load_dataset(src)
    names = output_names(ds)
    ydir, ldir = tmp / f"{src.parent.name}_peer_yolo", tmp / f"{src.parent.name}_peer_lm"
    with contextlib.redirect_stdout(io.StringIO()):
        export(load_dataset(src), ydir, "yolo-seg")
        export(load_dataset(src), ldir, "labelme")
    lines, shapes = [], []
    for rec in ds.images:
        label = ydir / "labels" / names[rec.id].file(".txt")
        lines += [[ln] for ln in label.read_text().splitlines()]
        groups: list[list[dict]] = []
        data = json.loads((ldir / names[rec.id].file(".json")).read_text())
        for s in data["shapes"]:
            if s["label"] == "__ignore__":
                continue
            if groups and s["group_id"] is not None and groups[-1][0]["group_id"] == s[
                    "group_id"]:
                groups[-1].append(s)
            else:
                groups.append([s])
        shapes += groups
    return lines, shapes


def _reads_back(peer, own: list, truth, tmp: Path, kind: str) -> str:
    """MaskLoop reading the peer's own files: how many of its polygons come out as the
    peer reads them, and the mask IoU against the source."""
    from model.formats.labelme import read_labelme
    from model.formats.yolo import read_yolo
    same = total = 0
    ious = []
    for k, ((_aid, full, h, w, _s), written) in enumerate(zip(truth, own)):
        if not written:
            continue
        root = tmp / f"back_{type(peer).__name__}_{k}"
        (root / "images").mkdir(parents=True)
        cv2.imwrite(str(root / "images" / "a.png"), np.zeros((h, w), np.uint8))
        if kind == "yolo":
            (root / "labels").mkdir()
            (root / "labels" / "a.txt").write_text("".join(ln + "\n" for ln in written))
            got = [i.full_mask(h, w) for i in read_yolo(root).images[0].instances]
            want = [peer.read([ln], h, w) for ln in written]
        else:
            doc = {"version": "5.5.0", "flags": {}, "imagePath": "images/a.png",
                   "imageData": None, "imageHeight": h, "imageWidth": w,
                   "shapes": [dict(s, label="x", group_id=None, flags={}) for s in written]}
            (root / "a.json").write_text(json.dumps(doc))
            got = [i.full_mask(h, w) for i in read_labelme(root / "a.json").images[0].instances]
            want = [peer.read([s], h, w) for s in written]
        total += len(want)
        same += sum(np.array_equal(a, b) for a, b in zip(got, want))
        union = np.logical_or.reduce(got) if got else np.zeros((h, w), bool)
        ious.append(float((union & full).sum() / max((union | full).sum(), 1)))
    why = f" ({peer.differs})" if peer.differs and same < total else ""
    return (f"MaskLoop reads the peer's own files as it does: {same}/{total} polygons "
            f"identical{why}, mean IoU {np.mean(ious):.4f} against the source")


def peer_fidelity(src: Path, tmp: Path) -> list[str]:
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp / "ultralytics"))  # it writes settings
    from bench._peers import Labelme, Supervision, Ultralytics, describe, iou, ratio
    tmp = tmp / f"peers_{src.parent.name}"
    tmp.mkdir()
    truth = _truth(src)
    lines, shapes = _exported(src, tmp)
    assert len(lines) == len(shapes) == len(truth)
    out = []
    for peer, rule, mine_files, kind in (
            (Ultralytics(), Ultralytics(False), lines, "yolo"),
            (Supervision(), Supervision(False), lines, "yolo"),
            (Labelme(), Labelme(False), shapes, "labelme")):
        mine, before, own, rule_same = [], [], [], 0
        written = []
        for (_aid, full, h, w, _single), got in zip(truth, mine_files):
            read = peer.read(got, h, w)
            mine.append(iou(read, full))
            rule_same += np.array_equal(read, rule.read(got, h, w))
            if kind == "yolo":
                before.append(iou(peer.read([_old_yolo_line(full, h, w)], h, w), full))
            else:  # the labelme writer before issue 28: pixel-edge polygons, one a part
                polys, _ = mask_to_polygons(*M.tight_crop(full), 0.5)
                before.append(iou(peer.read([{"points": np.reshape(p, (-1, 2)).tolist(),
                                              "shape_type": "polygon"} for p in polys], h, w),
                                  full))
            w_own = peer.write(full)
            written.append(w_own)
            if w_own is not None:
                own.append(iou(peer.read(w_own, h, w), full))
        where = "" if peer.real else " (the documented rule: the tool is not installed)"
        fmt = "labelme" if kind == "labelme" else "yolo-seg"
        line = f"{src.parent.name}, {peer.name}{where}: MaskLoop's {fmt} export {describe(mine)}"
        if own:
            worse = sum(m < o - 1e-12 for m, o in zip(mine, own))
            line += (f"; its own round trip {describe(own)}; ratio "
                     f"{ratio(np.mean(mine), np.mean(own))}; objects MaskLoop's file gives "
                     f"less than its own: {worse}/{len(own)}")
        else:
            line += "; its own round trip: needs the tool installed"
        line += f"; before issue 28 (pixel-edge polygons) {describe(before)}"
        if peer.real:
            line += f"; the documented rule reads the same pixels: {rule_same}/{len(mine)}"
            if own:
                line += "; " + _reads_back(peer, written, truth, tmp, kind)
        out.append(line)
    return out


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
    add_no_write_option(ap)
    args = ap.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in ("coco_sample", "nuclei"):
            lines += fidelity(args.data / name / "instances.json", tmp)
            lines += tolerances(args.data / name / "instances.json", tmp)
            lines += peer_fidelity(args.data / name / "instances.json", tmp)
        if not args.no_memory:
            lines += memory(tmp)
    for line in lines:
        print(line)
    write_section("formats-fidelity", "bench/formats_fidelity.py", lines, write=not args.no_write)


if __name__ == "__main__":
    main()
