"""Headless subcommands: predict, evaluate, export. main.py wires them into argparse."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .annotations import Dataset, ImageRecord
from .coco import FORMATS, load_dataset, save_dataset
from .coco_validate import CocoFormatError
from .cli_args import check_writable, output_file, positive_int, unit_interval
from .errors import DeviceError, UnusableImage, WeightsError
from .evaluate import evaluate, format_table, iou_types, load_predictions
from .images import DEFAULT_MAX_PIXELS, ImageReadError, read_image
from . import masks as M
from .masks import POLYGON_TOLERANCE_PX
from .progress import ProgressBar
from .sources import open_path

# Exit codes, the same for every subcommand: 0 done; 1 a runtime failure; 2 a usage
# error or bad input (a file that is not what it should be, an input that cannot be read).
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
INPUT_ERRORS = (CocoFormatError, ImageReadError, WeightsError, DeviceError, ValueError,
                FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
RUNTIME_ERRORS = (OSError, RuntimeError, MemoryError)


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


# --------------------------------------------------------------------------- predict

def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default="coco",
                   help="coco (default; torchvision COCO, cached or downloaded), coco-v2, none "
                        "(random init), or a checkpoint .pt/.pth path")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--min-size", type=positive_int, default=None,
                   help="shorter side the model sees (800)")
    p.add_argument("--max-size", type=positive_int, default=None, help="longer side cap (1333)")


def _read_batch(ds: Dataset, batch: list[ImageRecord], max_pixels: int):
    out = []
    for rec in batch:
        try:
            out.append((rec, read_image(ds.image_path(rec), max_pixels), None))
        except ImageReadError as e:
            out.append((rec, None, e))
    return out


def _prefetched(ds: Dataset, recs: list[ImageRecord], batch_size: int, max_pixels: int):
    """Decode the next batches on a thread while the model works on this one."""
    batches = [recs[i:i + batch_size] for i in range(0, len(recs), batch_size)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = deque(pool.submit(_read_batch, ds, b, max_pixels) for b in batches[:2])
        for nxt in batches[2:]:
            yield pending.popleft().result()
            pending.append(pool.submit(_read_batch, ds, nxt, max_pixels))
        while pending:
            yield pending.popleft().result()


def _predict_batch(predictor, good: list) -> list:
    """Predictions per image; an image the model cannot take is None (a batch that
    fails is retried image by image, so one bad image costs only itself)."""
    try:
        return predictor.predict_batch([img for _, img in good])
    except (UnusableImage, ValueError, RuntimeError) as e:
        if len(good) == 1:
            return [e]
    out = []
    for item in good:
        try:
            out.append(predictor.predict(item[1]))
        except (UnusableImage, ValueError, RuntimeError) as e:
            out.append(e)
    return out


def _write_or_keep(out: Dataset, path: Path) -> Path:
    """Write the results; if that fails at the end, keep them in a temp file."""
    try:
        save_dataset(out, path)
        return path
    except OSError as e:
        fd, tmp = tempfile.mkstemp(prefix="maskloop-predict-", suffix=".json")
        os.close(fd)
        try:
            save_dataset(out, tmp)
        except OSError:
            raise OSError(f"cannot write {path} ({e.strerror or e}), nor a temp copy") from None
        raise KeptElsewhere(f"cannot write {path} ({e.strerror or e}); the results are kept in "
                            f"{tmp}") from None


class KeptElsewhere(OSError):
    """The output could not be written where asked; the message names where it is."""


def cmd_from_boxes(args: argparse.Namespace) -> int:
    """Masks for a COCO file's box-only annotations; everything else is kept as it is."""
    from . import assist as A
    from .from_boxes import box_only, fill_dataset

    if Path(args.path).suffix.lower() != ".json":
        _err(f"{args.path}: --from-boxes needs a COCO JSON file with bbox annotations")
        return 2
    ds = load_dataset(args.path, args.images)
    ds.follow_symlinks = args.follow_symlinks
    n = box_only(ds)
    if not n:
        _err(f"{args.path}: no annotation has a bbox without a segmentation")
        return 2
    predictor = None
    if args.method == "model":
        from .predictor import Predictor
        predictor = Predictor(weights=args.weights, device=args.device, score_threshold=0.05,
                              min_size=args.min_size, max_size=args.max_size)
    bar = ProgressBar(sum(1 for r in ds.images if any(i.box_only for i in r.instances)),
                      "boxes")
    report = fill_dataset(ds, predictor, args.method, progress=lambda: bar.update(1))
    for s in report.skipped_images:
        print(f"\nwarning: skipped {s}", file=sys.stderr)
    try:
        written = _write_or_keep(ds, args.out)
    except KeptElsewhere as e:
        _err(str(e))
        return 1
    print(f"wrote {written}: {report.filled} of {n} box-only annotation(s) filled "
          f"({report.by_model} by the model's mask head, {report.by_classical} by "
          f"{A.CLASSICAL_NAMES[args.method if args.method in A.CLASSICAL else A.FALLBACK]}"
          + (f"; {report.empty} found nothing in the box and stay box-only" if report.empty
             else "") + ")", file=sys.stderr)
    return 0 if report.filled else 1


def cmd_predict(args: argparse.Namespace) -> int:
    from .predictor import Predictor  # torch model code only when needed

    check_writable(args.out)  # before the model runs, not after
    if args.from_boxes:
        return cmd_from_boxes(args)
    src = open_path(args.path, args.images, use_saved_annotations=False,
                    follow_symlinks=args.follow_symlinks)
    for w in src.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not src.images:
        _err(f"{args.path}: no images found")
        return 2
    predictor = Predictor(weights=args.weights, device=args.device,
                          score_threshold=args.score_threshold,
                          min_size=args.min_size, max_size=args.max_size)
    out = Dataset(categories=predictor.categories, image_root=src.image_root)
    bar = ProgressBar(len(src.images), "predict")
    skipped = 0
    for batch in _prefetched(src, src.images, args.batch_size, args.max_pixels):
        good = [(rec, img) for rec, img, e in batch if img is not None]
        for rec, img, e in batch:
            if e is not None:
                skipped += 1
                print(f"\nwarning: skipped {e}", file=sys.stderr)
        preds = _predict_batch(predictor, good) if good else []
        for (rec, img), instances in zip(good, preds):
            if isinstance(instances, Exception):
                skipped += 1
                print(f"\nwarning: skipped {src.image_root / rec.file_name}: {instances}",
                      file=sys.stderr)
                continue
            h, w = img.shape[:2]
            if rec.size_known and (rec.height, rec.width) != (h, w):
                print(f"\nwarning: {rec.file_name}: file is {w}x{h}, the COCO record says "
                      f"{rec.width}x{rec.height}; using the file's size", file=sys.stderr)
            new = out.add_image(rec.file_name, w, h)
            new.id, new.extra = rec.id, {k: v for k, v in rec.extra.items() if k != "review"}
            for inst in instances:
                out.add_instance(new, inst)
        bar.update(len(batch))
    done = len(src.images) - skipped
    try:
        written = _write_or_keep(out, args.out)
    except KeptElsewhere as e:
        _err(str(e))
        return 1
    print(f"wrote {written}: {done} image(s), {out.num_instances()} instance(s)"
          f"{f', {skipped} image(s) skipped' if skipped else ''}", file=sys.stderr)
    return 0 if done > 0 else 1


# -------------------------------------------------------------------------- evaluate

def cmd_evaluate(args: argparse.Namespace) -> int:
    gt = load_dataset(args.gt, args.images)
    results = load_predictions(Path(args.pred), gt)
    if iou_types(results) == ("bbox",):
        print(f"note: {args.pred} has boxes only: bbox AP is evaluated; segm AP needs masks "
              "(polygons or RLE)", file=sys.stderr)
    metrics = evaluate(gt, results)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(format_table(metrics))
    return 0


# ---------------------------------------------------------------------------- export

class RoundTrip:
    """Export's check, one annotation at a time as it is written: does the written
    segmentation decode to the mask it came from? Nothing is kept but a count.

    A decoded mask (edited, or converted to polygons) is compared run for run, and so
    is an uncompressed RLE made compressed. A polygon made RLE is pycocotools' own
    rasterisation of it, the very definition of its mask, so it needs no second one;
    the writer's own validation has checked its size and run lengths.
    """

    def __init__(self):
        self.exact, self.differ = 0, []

    def __call__(self, inst, rec, ann) -> None:
        h, w = rec.height, rec.width
        seg = ann.get("segmentation")
        original = inst.original.get("segmentation") if inst.original is not None else None
        if seg is original or (inst.is_lazy and isinstance(original, list)):
            same = True
        elif inst.is_lazy:
            same = np.array_equal(M.segmentation_counts(seg, h, w),
                                  M.segmentation_counts(original, h, w))
        else:
            same = np.array_equal(
                M.segmentation_counts(seg, h, w),
                np.asarray(M.rle_counts_from_crop(inst.mask, inst.offset, h, w)))
        if same:
            self.exact += 1
        else:
            self.differ.append(inst.id)


def cmd_export(args: argparse.Namespace) -> int:
    ds = load_dataset(args.input, args.images)
    check = RoundTrip()
    report = save_dataset(ds, args.out, args.format, convert_all=True, check=check)
    n = report.annotations
    print(f"wrote {args.out}: {len(ds.images)} image(s), {n} annotation(s) "
          f"({report.rle} RLE, {report.polygon} polygon, {report.unchanged} already in "
          f"{args.format} and left as they were)")
    if args.format == "polygon":
        kept = report.kept_rle_hole + report.kept_rle_crowd + report.kept_rle_shape
        if kept:
            print(f"kept as RLE: {report.kept_rle_hole} with holes, {report.kept_rle_crowd} crowd, "
                  f"{report.kept_rle_shape} no polygon reproduces within "
                  f"{POLYGON_TOLERANCE_PX} px")
        print(f"round trip: {check.exact}/{n} masks pixel-identical; the rest differ only on "
              f"their boundary, by at most {POLYGON_TOLERANCE_PX} px")
    else:
        print(f"round trip: {check.exact}/{n} masks pixel-identical")
        if check.exact != n:
            _err(f"the RLE round trip changed annotation(s) {check.differ[:10]}; please report "
                 "this")
            return 1
    return 0


# ------------------------------------------------------------------------------ wire

def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict masks for images, a folder or a COCO file",
                       description="Run Mask R-CNN over PATH and write a COCO file with "
                                   "scored annotations.")
    p.add_argument("path", help="an image, a folder of images (recursive) or a COCO JSON")
    p.add_argument("--out", required=True, type=output_file, help="output COCO JSON")
    p.add_argument("--images", default=None, help="image root for a COCO JSON input "
                                                  "(default: the JSON's folder)")
    add_model_options(p)
    p.add_argument("--score-threshold", type=unit_interval, default=0.5,
                   help="drop detections below this score (0 keeps all; default 0.5)")
    p.add_argument("--batch-size", type=positive_int, default=1, help="images per forward pass")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                   help="refuse images larger than this many pixels")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="open images through symbolic links that point outside the image folder")
    p.add_argument("--from-boxes", action="store_true",
                   help="PATH is a COCO file: give every annotation with a bbox but no "
                        "segmentation a mask from its box; keep everything else")
    p.add_argument("--method", choices=["model", "ellipse", "grabcut", "box"], default="model",
                   help="with --from-boxes: the model's mask head on each box (default; a "
                        "class it does not know gets the inscribed ellipse, the best classical "
                        "method measured), or one classical method for all")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="COCO bbox and segm AP of predictions",
                       description="Run COCOeval (bbox and segm) on PRED against GT.")
    p.add_argument("gt", help="ground-truth COCO JSON")
    p.add_argument("pred", help="predictions: a COCO JSON with scores or a results list")
    p.add_argument("--images", default=None, help="image root of GT (only to read sizes)")
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="re-save a COCO file as RLE or polygons, losslessly",
                       description="Normalise a COCO file through MaskLoop's store and "
                                   "convert every annotation to one format.")
    p.add_argument("input", help="input COCO JSON")
    p.add_argument("--out", required=True, type=output_file,
                   help="output COCO JSON (may be the input: it is replaced atomically)")
    p.add_argument("--format", choices=FORMATS, default="rle",
                   help="rle (default, lossless) or polygon (masks with holes and crowd "
                        f"regions stay RLE; boundary tolerance {POLYGON_TOLERANCE_PX} px)")
    p.add_argument("--images", default=None, help="image root (default: the JSON's folder)")
    p.set_defaults(func=cmd_export)


def run(args: argparse.Namespace) -> int:
    """Call a subcommand; an error becomes one 'error:' line and its exit code."""
    try:
        return args.func(args)
    except INPUT_ERRORS as e:
        _err(str(e))
        return EXIT_USAGE
    except RUNTIME_ERRORS as e:
        _err(str(e) or type(e).__name__)
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
