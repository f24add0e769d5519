"""Headless subcommands: predict (model/cli/predict_command.py), evaluate, export. main.py wires
them into argparse."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model.data.annotations import Dataset
from model.data.coco import load_dataset
from model.errors import CocoFormatError, DeviceError, ImageReadError, UsageError, WeightsError
from model.cli.args import (check_writable, non_negative_float, output_file, positive_int,
                            threshold_or_auto, unit_interval)
from model.metrics.evaluate import evaluate, format_table, iou_types, load_predictions
from model.data.images import DEFAULT_MAX_PIXELS
from model.cli.predict_command import add_model_options, cmd_predict
from model.formats.sources import open_path
from model.text import shown_warnings

# Exit codes, the same for every subcommand: 0 done; 1 a runtime failure; 2 a usage
# error or bad input (a file that is not what it should be, an input that cannot be read).
EXIT_FAILED, EXIT_USAGE = 1, 2
INPUT_ERRORS = (CocoFormatError, ImageReadError, WeightsError, DeviceError, ValueError,
                FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
RUNTIME_ERRORS = (OSError, RuntimeError, MemoryError)


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


# -------------------------------------------------------------------------- evaluate

def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.plots is not None:
        args.per_class = True  # the plots are of the per-class figures
        if Path(args.plots).exists() and not Path(args.plots).is_dir():
            raise UsageError(f"{args.plots}: --plots needs a folder, and this is a file")
        check_writable(Path(args.plots), folder=True)
    gt = load_dataset(args.gt, args.images)
    preds = load_predictions(Path(args.pred), gt)
    for line in preds.notes:
        print(f"note: {line}", file=sys.stderr)
    _warn(preds.warnings(gt, "they are false positives of a class with no ground truth: "
                             "in no class's AP, and in the confusion matrix (--per-class) as "
                             "'(other classes)'"))
    results = preds.results
    if iou_types(results) == ("bbox",):
        print(f"note: {args.pred} has boxes only: bbox AP is evaluated; segm AP needs masks "
              "(polygons or RLE)", file=sys.stderr)
    boxes = sum(1 for _rec, inst in gt.instances() if inst.box_only and not inst.edited
                and inst.review != "rejected")
    if boxes and "segm" in iou_types(results):
        print(f"note: {args.gt} has {boxes} annotation(s) with a box and no mask: segm AP "
              "counts them as objects no predicted mask can match", file=sys.stderr)
    if not args.per_class:
        metrics = evaluate(gt, results)
        print(json.dumps(metrics) if args.json else format_table(metrics))
        return 0
    from model.metrics.per_class import evaluate_report, format_per_class
    report = evaluate_report(gt, results, args.confusion_score)
    written = []
    if args.plots is not None:
        from model.metrics.plots import write_plots
        written = write_plots(report, Path(args.plots))
    if args.json:
        print(json.dumps(report))
    else:
        print(format_table(report) + "\n\n" + format_per_class(report))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- export

def cmd_export(args: argparse.Namespace) -> int:
    from model.formats import registry
    from model.formats.export import export
    from model.formats.folder import check_folder

    fmt = registry.writer(args.format).name
    out = Path(args.out)
    if registry.get(fmt).kind == registry.FOLDER:
        check_folder(out)  # a file, or a folder holding others' files: refused before work
        check_writable(out, folder=True)  # written beside out, then swapped in
    else:
        if out.is_dir():
            raise UsageError(f"{out} is a folder; give a file name, such as {out / 'out.json'}")
        check_writable(out)
    ds = open_path(args.input, args.images, follow_symlinks=args.follow_symlinks,
                   crowd_as_instances=args.crowd_as_instances, format_in=args.format_in)
    _say_format(ds, args.input)
    result = export(ds, out, fmt, args.tolerance)
    _warn(result.warnings)
    for line in result.lines:
        print(line)
    return 1 if result.failed else 0


def _warn(warnings: list[str]) -> None:
    for w in shown_warnings(warnings):
        print(f"warning: {w}", file=sys.stderr)


def _say_format(ds: Dataset, path) -> None:
    """Name what was read (another tool's format), and what the file holds that the user
    may not want (crowd regions that look like ordinary instances)."""
    from model.formats.crowd import brush_crowds, crowd_sign
    from model.formats.layouts import DEFAULT_ANNOTATIONS
    from model.formats.registry import title
    found = ds.source_format == "coco" and Path(path).is_dir() and ds.path is not None \
        and ds.path.name != DEFAULT_ANNOTATIONS  # CVAT's or Datumaro's layout: name the file
    if ds.source_format != "coco" or found:
        boxes = sum(1 for _rec, inst in ds.instances() if inst.box_only)
        what = f"COCO ({ds.path})" if found else title(ds.source_format)
        print(f"read {path} as {what}: "
              f"{len(ds.images)} image(s), {ds.num_instances()} instance(s)"
              + (f", {boxes} of them boxes without a mask (predict --from-boxes fills them)"
                 if boxes else ""), file=sys.stderr)
    _warn(ds.warnings)
    brush = brush_crowds(ds)
    if brush:
        print(f"note: {len(brush)} crowd region(s) (iscrowd: 1) look like ordinary instances: "
              f"{crowd_sign(ds)}; as crowd regions they are never trained on, and "
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
    p.add_argument("--score-threshold", type=threshold_or_auto, default=0.5,
                   help="drop detections below this score (0 keeps all; default 0.5); auto: "
                        "the offer gate fits it on the input's done images (predicted too, "
                        "priced against their annotations) and writes the offers that pass "
                        "on the other images, or none when no threshold pays")
    p.add_argument("--batch-size", type=positive_int, default=1, help="images per forward pass")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                   help="refuse images larger than this many pixels")
    add_follow_symlinks_option(p)
    p.add_argument("--from-boxes", action="store_true",
                   help="give every box without a mask a mask from its box, and keep "
                        "everything else: COCO annotations with a bbox and no segmentation, "
                        "YOLO box lines (class cx cy w h), labelme rectangles")
    p.add_argument("--method", choices=["model", "ellipse", "grabcut", "box"], default="model",
                   help="with --from-boxes: the model's mask head on each box (default; a "
                        "class it does not know gets the inscribed ellipse, the best classical "
                        "method measured), or one classical method for all")
    add_format_in_option(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="COCO bbox and segm AP of predictions",
                       description="Run COCOeval (bbox and segm) on PRED against GT.")
    p.add_argument("gt", help="ground-truth COCO JSON")
    p.add_argument("pred", help="predictions: a COCO JSON with scores or a results list")
    p.add_argument("--images", default=None, help="image root of GT (only to read sizes)")
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    p.add_argument("--per-class", action="store_true",
                   help="also AP, AP50 and AP75 per class, PR curves and a confusion matrix")
    p.add_argument("--plots", default=None, metavar="DIR",
                   help="write pr_bbox.png, pr_segm.png and confusion.png into DIR (implies "
                        "--per-class)")
    p.add_argument("--confusion-score", type=unit_interval, default=0.5, metavar="T",
                   help="predictions scored T or above enter the confusion matrix "
                        "(default 0.5)")
    p.set_defaults(func=cmd_evaluate)

    add_export_command(sub)

    from model.cli.report_command import add_report_command
    add_report_command(sub)
    from model.cli.audit_command import add_audit_command
    add_audit_command(sub)


def add_export_command(sub: argparse._SubParsersAction) -> None:
    """`export`: its formats, their help and the options that depend on them come from
    the registry (model/formats/registry.py)."""
    from model.formats import registry
    from model.formats.export import DEFAULT_FORMAT
    from model.formats.writer_reports import DEFAULT_TOLERANCE
    from model.text import joined
    writers = registry.writers()
    read = [f.title for f in registry.readers() if f.keeps]
    folders = [f.name for f in writers if f.kind == registry.FOLDER]
    polygons = [f.name for f in writers if f.polygons]
    p = sub.add_parser("export", help="convert annotations: "
                                      + ", ".join(f.title for f in writers if f.keeps),
                       description=f"Read annotations in any format MaskLoop opens "
                                   f"({', '.join(read)}; told from the files) and write "
                                   "them in one format.",
                       epilog="formats: " + "; ".join(f"{f.name}: {f.description}"
                                                      for f in writers))
    p.add_argument("input", help="a dataset in any format MaskLoop opens: "
                                 + ", ".join(read))
    p.add_argument("--out", required=True,
                   help="output COCO JSON (may be the input: it is replaced atomically), or a "
                        f"folder for {joined(folders)}")
    older = [f"{a} for {f.name}" for f in writers for a in f.aliases]
    p.add_argument("--format", choices=[n for f in writers for n in (f.name, *f.aliases)],
                   default=DEFAULT_FORMAT,
                   help=f"the format to write (default {DEFAULT_FORMAT}); each is described "
                        "below" + (f" (older names: {', '.join(older)})" if older else ""))
    p.add_argument("--tolerance", type=non_negative_float, default=DEFAULT_TOLERANCE,
                   help=f"polygon simplification in pixels for {joined(polygons)} (default "
                        "0: lossless; 0.5 has a third of the vertices and loses pixels on "
                        "small objects)")
    p.add_argument("--images", default=None,
                   help="image root of a COCO JSON (default: the JSON's folder); for labelme, "
                        "a folder whose images an imagePath may also point to")
    add_follow_symlinks_option(p)
    add_format_in_option(p)
    add_crowd_option(p)
    p.set_defaults(func=cmd_export)


def add_format_in_option(p: argparse.ArgumentParser) -> None:
    from model.formats import registry
    readers = registry.readers()
    named = "; ".join(f"{f.name} = {f.description}" for f in readers)
    p.add_argument("--format-in", choices=[f.name for f in readers], default=None,
                   help="read the input as this format instead of telling it from the files "
                        f"(a folder that holds several, such as masks/ beside YOLO labels/): "
                        f"{named}")


def add_follow_symlinks_option(p: argparse.ArgumentParser) -> None:
    """One flag, one wording, for every command that reads a dataset: a refusal names it."""
    p.add_argument("--follow-symlinks", action="store_true",
                   help="open files (images and annotation files) through symbolic links "
                        "that point outside the dataset's folder")


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
