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

from .annotations import Dataset, ImageRecord
from .coco import load_dataset, save_dataset
from .coco_validate import CocoFormatError
from .cli_args import (check_writable, non_negative_float, output_file, positive_int,
                       unit_interval)
from .errors import DeviceError, UnusableImage, UsageError, WeightsError
from .evaluate import evaluate, format_table, iou_types, load_predictions
from .images import DEFAULT_MAX_PIXELS, ImageReadError, read_image
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

def cmd_export(args: argparse.Namespace) -> int:
    from .formats.export import ALIASES, FOLDER_FORMATS, export

    fmt = ALIASES.get(args.format, args.format)
    out = Path(args.out)
    if fmt in FOLDER_FORMATS:
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out}: {fmt} is written to a folder; {out} is a file")
        check_writable(out / ".probe")
    else:
        if out.is_dir():
            raise UsageError(f"{out} is a folder; give a file name, such as {out / 'out.json'}")
        check_writable(out)
    ds = open_path(args.input, args.images, crowd_as_instances=args.crowd_as_instances)
    _say_format(ds, args.input)
    result = export(ds, out, fmt, args.tolerance)
    for line in result.lines:
        print(line)
    return 1 if result.failed else 0


def _say_format(ds: Dataset, path) -> None:
    """Name what was read (another tool's format), and what the file holds that the user
    may not want (crowd masks that look like brush masks)."""
    from .formats.crowd import brush_crowds
    from .sources import NAMES
    if ds.source_format != "coco":
        print(f"read {path} as {NAMES.get(ds.source_format, ds.source_format)}: "
              f"{len(ds.images)} image(s), {ds.num_instances()} instance(s)", file=sys.stderr)
    for w in ds.warnings[:20]:
        print(f"warning: {w}", file=sys.stderr)
    brush = brush_crowds(ds)
    if brush:
        print(f"note: {len(brush)} crowd mask(s) look like brush masks (CVAT/Datumaro); "
              "--crowd-as-instances treats them as ordinary instances", file=sys.stderr)


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

    from .formats.export import ALIASES, DESCRIPTIONS, EXPORT_FORMATS
    p = sub.add_parser("export", help="convert annotations: COCO (RLE, polygons), YOLO-seg, "
                                      "labelme, mask PNGs",
                       description="Read annotations in any format MaskLoop opens (COCO, "
                                   "labelme, YOLO-seg, mask PNGs, label images; told from the "
                                   "files) and write them in one format.",
                       epilog="formats: " + "; ".join(f"{k}: {v}" for k, v in
                                                      DESCRIPTIONS.items()))
    p.add_argument("input", help="a COCO JSON, a labelme JSON or folder, a YOLO-seg folder, "
                                 "a folder of mask PNGs or label images")
    p.add_argument("--out", required=True,
                   help="output COCO JSON (may be the input: it is replaced atomically), or a "
                        "folder for yolo-seg, labelme and masks")
    p.add_argument("--format", choices=EXPORT_FORMATS + tuple(ALIASES), default="coco-rle",
                   help="coco-rle (default, lossless), coco-polygon (lossless; holes and crowd "
                        "stay RLE), coco-polygon-only, yolo-seg, labelme, masks")
    p.add_argument("--tolerance", type=non_negative_float, default=0.5,
                   help="polygon simplification in pixels for coco-polygon-only, yolo-seg and "
                        "labelme (default 0.5; 0 keeps every boundary pixel)")
    p.add_argument("--images", default=None, help="image root (default: the JSON's folder)")
    add_crowd_option(p)
    p.set_defaults(func=cmd_export)


def add_crowd_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crowd-as-instances", action="store_true",
                   help="treat every crowd (iscrowd: 1) annotation as an ordinary instance: "
                        "CVAT's COCO export (through Datumaro) writes brush masks that way")


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
