"""`python main.py audit`: likely label errors (model/audit) into SUSPECTS.json."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from model.audit.suspects import (LOW_SCORE, REASONS, find_suspects, predictions_from_results,
                                  write_suspects)
from model.cli.args import check_writable, output_file, positive_int
from model.net.sizes import side
from model.data.annotations import Dataset, Instance
from model.editing.review import OPEN, adopt_categories, classify_image
from model.errors import UsageError


def add_audit_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit", help="list likely label errors (missing, wrong class, sloppy mask, spurious)",
        description="Compare the decided annotations of COCO with a model's predictions and "
                    "write the suspects, ranked, to SUSPECTS.json. --folds K trains K models, "
                    "each on K-1 folds of the decided images, and predicts the held-out fold "
                    "(a model trained on the labels has memorised their errors).")
    p.add_argument("coco", help="COCO JSON with decided annotations (as MaskLoop saves it)")
    p.add_argument("--out", required=True, type=output_file, help="SUSPECTS.json to write")
    p.add_argument("--images", default=None, help="image root (default: the JSON's folder)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--folds", type=positive_int, default=None,
                     help="cross-predictions: K fold models fine-tuned from --weights")
    src.add_argument("--predictions", default=None,
                     help="given predictions (a COCO file with scores or a results list) "
                          "instead of a model")
    p.add_argument("--weights", default="coco",
                   help="the model (a checkpoint, coco, coco-v2, none); with --folds, the "
                        "start point of every fold model")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--min-size", type=side, default=None,
                   help="shorter side the model sees (default: the checkpoint's, else 800)")
    p.add_argument("--max-size", type=side, default=None, help="longer side cap")
    p.add_argument("--iterations", type=positive_int, default=300,
                   help="with --folds: training iterations of each fold model (default 300)")
    p.add_argument("--batch-size", type=positive_int, default=2,
                   help="with --folds: training batch size (default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    p.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    from model.data.coco import load_dataset
    out = Path(args.out)
    check_writable(out)
    ds = load_dataset(args.coco, args.images)
    audited = [r for r in ds.images if classify_image(r) != OPEN]
    if not audited:
        raise UsageError(f"{args.coco}: no decided annotations to audit (mark images done, or "
                         "accept, edit or draw instances)")
    say = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
    if args.predictions:
        preds = _given(ds, audited, args)
    elif args.folds:
        from model.audit.folds import cross_predictions
        from model.training.config import TrainConfig
        from model.training.rng import seed_all
        seed_all(0)  # the entry point's one seeding: fold models come out the same each run
        base = TrainConfig(coco=Path(args.coco), out=out, weights=args.weights,
                           iterations=args.iterations, batch_size=args.batch_size,
                           device=args.device, min_size=args.min_size or 800,
                           max_size=args.max_size or 1333, workers=0)
        preds = cross_predictions(ds, args.folds, base, say)
    else:
        preds = _predict(ds, audited, args, say)
    suspects = find_suspects(ds, preds, [r.id for r in audited])
    write_suspects(out, ds, suspects)
    counts = Counter(s.reason for s in suspects)
    images = sum(1 for r in audited if r.id in preds)  # those audited
    if args.json:
        print(json.dumps({"out": str(out), "images": images, "suspects": len(suspects),
                          "by_reason": {r: counts.get(r, 0) for r in REASONS}}))
    else:
        print(f"wrote {out}: {len(suspects)} suspect(s) on {images} image(s): "
              + ", ".join(f"{counts.get(r, 0)} {r}" for r in REASONS))
    return 0


def _given(ds: Dataset, audited, args: argparse.Namespace) -> dict[int, list[Instance]]:
    """--predictions: the file's results by image, with a warning for each kind of
    reference that does not fit the dataset. A results list speaks for every image (one
    without a result had no detections), unless some of its results could not be placed:
    then no image is known to have had none, and only those with a result are audited.
    Warnings go to stderr with --json too (stdout holds the one object)."""
    from model.metrics.evaluate import load_predictions

    def say(line: str) -> None:
        print(f"warning: {line}", file=sys.stderr)

    loaded = load_predictions(Path(args.predictions), ds)
    for line in loaded.notes:
        print(f"note: {line}", file=sys.stderr)
    for w in loaded.warnings(ds, "they only keep the annotations they overlap from being "
                                 "'spurious', and are never offered as an alternative"):
        say(w)
    covered = loaded.covered
    if covered is None and loaded.left_out:
        covered = {r["image_id"] for r in loaded.results}
    preds = predictions_from_results(loaded.results, ds, covered)
    unseen = [r for r in audited if r.id not in preds]
    if unseen:
        say(f"{args.predictions}: {len(unseen)} of the {len(audited)} decided "
            f"image(s) have no prediction in it (such as {unseen[0].file_name}); they are not "
            "audited")
    if not any(preds.get(r.id) for r in audited):
        say(f"{args.predictions} has no mask predictions for the images of "
            f"{args.coco}")
    return preds


def _predict(ds: Dataset, records, args: argparse.Namespace, say) -> dict[int, list[Instance]]:
    """One model over the audited images, its classes mapped onto the dataset's by name
    (a COCO model's 'person' is the dataset's 'person'); other classes are dropped."""
    from model.data.images import read_image
    from model.net.predictor import Predictor
    pred = Predictor(weights=args.weights, device=args.device, score_threshold=LOW_SCORE,
                     min_size=args.min_size, max_size=args.max_size)
    mapping, new = adopt_categories(ds.categories, pred.categories, [c.id for c in pred.categories])
    unknown = {c.id for c in new}
    known = {c.id for c in ds.categories}
    out: dict[int, list[Instance]] = {}
    for k, rec in enumerate(records, 1):
        say(f"predicting {k}/{len(records)}: {rec.file_name}")
        found = []
        for inst in pred.predict(read_image(ds.image_path(rec))):
            cid = mapping.get(inst.category_id, inst.category_id)
            if cid in known and cid not in unknown:
                found.append(replace_category(inst, cid))
        out[rec.id] = found
    return out


def replace_category(inst: Instance, category_id: int) -> Instance:
    if inst.category_id == category_id:
        return inst
    out = inst.copy()
    out.category_id = category_id
    return out

