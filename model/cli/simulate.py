"""`main.py simulate`: how many actions a person needs to bring a COCO file's images
to its ground truth from what MaskLoop offers (a predictions file, the model's
predictions, or nothing), played by the simulated annotator (model/effort)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model.cli.args import AUTO, _float, check_writable, output_file, side, threshold_or_auto
from model.data.annotations import Dataset
from model.data.coco import load_dataset, save_dataset
from model.effort.annotator import ALSO_TAU, TAU
from model.editing.queue import ATTENTION, FILE
from model.effort.dataset import DatasetEffort, review_order, simulate_dataset
from model.effort.gate import SCORE_FLOOR, OnlineGate
from model.errors import UsageError


ORDERS = {"file": FILE, "attention": ATTENTION}  # --order: the review queue's orders


def iou_threshold(text: str) -> float:
    v = _float(text)
    if not 0.0 < v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within (0, 1], got {v}")
    return v


def add_simulate_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate", help="count the actions a person needs to reach the ground truth",
        description="Play MaskLoop's simulated annotator (accept 1, reject 1, class change 1, "
                    "box 2, click 1, stroke 1, vertex 1, reject all of an image's offers 1) on "
                    "every image of GT: predictions are matched to the ground truth and each "
                    "is corrected with strokes until mask IoU reaches --iou or rejected and "
                    "redrawn, whichever costs fewer seconds at a glance; missed objects are "
                    "drawn by polygon, box or (with --weights) click -> instance. Prints "
                    "actions and seconds per instance and per image, at --iou and at 0.85.")
    p.add_argument("gt", help="ground-truth COCO JSON")
    p.add_argument("--predictions", default=None,
                   help="what the tool offers: a COCO JSON of predictions (main.py predict's "
                        "output), matched to GT's images by id and file name")
    p.add_argument("--weights", default=None,
                   help="a checkpoint .pt/.pth, coco or coco-v2: predicts GT's images when no "
                        "--predictions is given, and answers the box -> mask and click -> "
                        "instance routes (not with random weights, as in the app); without "
                        "them the box route is the classical fallback and there is no click "
                        "route (and no --predictions: the no-model cost)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--min-size", type=side, default=None, help="shorter side the model sees")
    p.add_argument("--max-size", type=side, default=None, help="longer side cap")
    p.add_argument("--score-threshold", type=threshold_or_auto, default=0.5,
                   help="with --weights and no --predictions: drop detections below it "
                        "(default 0.5); auto: the offer gate decides as the app does, "
                        "image by image in order, fitted on the images played so far "
                        "(predictions or --predictions' offers down to "
                        f"{SCORE_FLOOR:g}); it may hide them all")
    p.add_argument("--order", choices=sorted(ORDERS), default="file",
                   help="the order the images are played in, as the app's image list "
                        "orders them: file (default) or attention (the images the model "
                        "is least sure of first, by the attention predict stores; never "
                        "predicted last); it matters where the offer gate and the box "
                        "route learn as they go")
    p.add_argument("--images", default=None, help="image root of GT (default: its folder)")
    p.add_argument("--iou", type=iou_threshold, default=TAU,
                   help=f"mask IoU every object must reach (default {TAU})")
    p.add_argument("--out", type=output_file, default=None,
                   help="write the final masks as COCO, with GT's image and annotation ids")
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    p.set_defaults(func=cmd_simulate)


def _predictor(args: argparse.Namespace):
    from model.net.devices import configure_cpu_threads
    from model.net.predictor import Predictor
    configure_cpu_threads(reserve=0)  # the entry point decides, as predict does
    auto = args.score_threshold == AUTO
    return Predictor(weights=args.weights, device=args.device,
                     score_threshold=SCORE_FLOOR if auto else args.score_threshold,
                     min_size=args.min_size, max_size=args.max_size)


def _predict(gt: Dataset, predictor) -> Dataset:
    """GT's images through predict's own code path (ids and file names kept)."""
    from model.cli.predict import _predict_shard
    from model.data.images import DEFAULT_MAX_PIXELS
    out, skipped = _predict_shard(gt, gt.images, predictor,
                                  argparse.Namespace(batch_size=1, max_pixels=DEFAULT_MAX_PIXELS))
    if skipped:
        print(f"warning: {skipped} image(s) could not be predicted: their objects are drawn "
              "by hand", file=sys.stderr)
    return out


def _kinds(by_kind: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in by_kind.items() if n) or "none"


def _table(effort: DatasetEffort, other: DatasetEffort | None, offered: str) -> str:
    lines = [f"simulated annotator, {offered}; every object to mask IoU >= {effort.iou:g}"]
    w = max([len("image")] + [len(r.file_name) for r in effort.per_image])
    lines.append(f"{'image':<{w}}  {'objects':>7}  {'actions':>7}  {'per obj':>7}  "
                 f"{'seconds':>8}  {'s/obj':>6}  by kind")
    for r in effort.per_image:
        e = r.effort
        per = e.actions / e.instances if e.instances else 0.0
        sper = e.seconds / e.instances if e.instances else 0.0
        lines.append(f"{r.file_name:<{w}}  {e.instances:>7}  {e.actions:>7}  {per:>7.2f}  "
                     f"{e.seconds:>8.1f}  {sper:>6.1f}  {_kinds(e.tally.by_kind())}")
    lines.append(f"{'total':<{w}}  {effort.instances:>7}  {effort.actions:>7}  "
                 f"{effort.actions_per_instance:>7.2f}  {effort.seconds:>8.1f}  "
                 f"{effort.seconds_per_instance:>6.1f}  {_kinds(effort.by_kind)}")
    how = effort.how_counts()
    lines.append("objects: " + (", ".join(f"{k} {n}" for k, n in how.items()) or "none"))
    for e in (effort, other):
        if e is not None:
            lines.append(f"actions per instance at IoU {e.iou:g}: {e.actions_per_instance:.2f}, "
                         f"seconds per instance {e.seconds_per_instance:.1f} ({e.actions} "
                         f"actions, {e.seconds:.0f} s, {e.instances} instances; seconds by "
                         "model/effort/timings.py)")
    return "\n".join(lines)


def gate_lines(effort: DatasetEffort) -> list[str]:
    """The offer gate's decision each time it changed, with the image it took effect on."""
    out, last = [], None
    for k, r in enumerate(effort.per_image, start=1):
        d = r.gate
        key = None if d is None else (d.fitted, d.hidden, round(d.threshold or 0, 2))
        if d is not None and key != last:
            out.append(f"gate from image {k} ({r.file_name}): {d.line()}")
            last = key
    return out


def cmd_simulate(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_writable(args.out)
    gt = load_dataset(args.gt, args.images)
    if not gt.images:
        raise UsageError(f"{args.gt}: no images to simulate")
    predictions = load_dataset(args.predictions) if args.predictions else None
    predictor = _predictor(args) if args.weights else None
    if predictions is None and predictor is not None:
        predictions = _predict(gt, predictor)
    offered = (f"predictions {args.predictions}" if args.predictions else
               f"predictions of {args.weights}" if predictor is not None else
               "no model (every object drawn by hand)")
    auto = args.score_threshold == AUTO and predictions is not None
    queue = review_order(gt, predictions, ORDERS[args.order])
    if args.order == "attention" and (predictions is None or all(
            rec.attention is None for rec in predictions.images)):
        print("warning: no image's predictions carry an attention (predict stores it): the "
              "images are played in file order", file=sys.stderr)
    version = str(args.predictions or args.weights)
    # the model's tools as the app offers them (app/inference/assist.py, usable): not on
    # an architecture without the heads, nor with random weights
    usable = predictor is not None and getattr(predictor, "supports_assist", False) \
        and not str(predictor.model_id).startswith("random-init")

    def play(iou: float) -> tuple[DatasetEffort, dict]:
        """One pass, with routes and a gate of its own (each learns as it goes); the
        effort, and what the gate and the box route ended with."""
        box_to_mask = candidates = None
        learnt = {}
        if usable:
            from model.effort.routes import model_routes
            box_to_mask, candidates = model_routes(predictor)
        gate = OnlineGate(version, iou) if auto else None
        effort = simulate_dataset(gt, predictions, iou=iou, box_to_mask=box_to_mask,
                                  candidates=candidates, gate=gate, order=queue)
        if gate is not None:
            learnt["gate"] = gate.decision.to_json()
        if box_to_mask is not None:
            learnt["box_route"] = box_to_mask.score.to_json()
        return effort, learnt

    effort, learnt = play(args.iou)
    other = None
    if abs(args.iou - ALSO_TAU) > 1e-9:
        other, _learnt = play(ALSO_TAU)
    if args.out is not None:
        save_dataset(effort.final_dataset(gt), Path(args.out))
    if args.json:
        obj = effort.to_json()
        obj["offered"] = offered
        obj.update(learnt)  # the gate's last decision, the box route's score
        if other is not None:
            obj["at_" + f"{ALSO_TAU:g}"] = other.summary()
        print(json.dumps(obj))
    else:
        print(_table(effort, other, offered))
        if auto:
            print("\n".join(gate_lines(effort)))
    if args.out is not None:
        print(f"wrote {args.out}: the final masks of {effort.instances} instance(s) on "
              f"{len(effort.per_image)} image(s)", file=sys.stderr)
    return 0
