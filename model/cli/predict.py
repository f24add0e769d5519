"""`main.py predict`: the model over an image, a folder or a COCO file's images, one
process or sharded over torchrun's ranks; and `--from-boxes`, masks for box-only files."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from model.data.annotations import Dataset, ImageRecord
from model.cli.args import check_writable, side
from model.net.sizes import MAX_SIDE, MIN_SIDE
from model.data.coco import load_dataset, save_dataset
from model.errors import ImageReadError, KeptElsewhere, UnusableImage
from model.data.images import read_image, read_size
from model.cli.progress import ProgressBar
from model.formats.sources import open_path, shown_warnings


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default="coco",
                   help="coco (default; torchvision COCO, cached or downloaded), coco-v2, none "
                        "(random init), or a checkpoint .pt/.pth path")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--min-size", type=side, default=None,
                   help=f"shorter side the model sees (800; {MIN_SIDE}..{MAX_SIDE})")
    p.add_argument("--max-size", type=side, default=None,
                   help="longer side cap (1333; at least --min-size)")


def _read_batch(ds: Dataset, batch: list[ImageRecord], max_pixels: int):
    out = []
    for rec in batch:
        try:
            out.append((rec, read_image(ds.image_path(rec), max_pixels), None))
        except ImageReadError as e:
            out.append((rec, None, e))
    return out


def _prefetched(ds: Dataset, batches: list[list[ImageRecord]], max_pixels: int):
    """Decode the next batches on a thread while the model works on this one."""
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


def _write_or_say(out: Dataset, path: Path) -> Path | None:
    """_write_or_keep, with a failure said as one error line (None)."""
    try:
        return _write_or_keep(out, path)
    except KeptElsewhere as e:
        _err(str(e))
        return None


def fill_summary(report, n: int, method: str) -> str:
    """'F of N box-only annotation(s) filled (a by ..., b by ...); e found nothing in the
    box and u are on images that could not be read: they stay box-only', where a + b = F
    and F + e + u = N; the parts that are 0 are left out."""
    from model.net import assist as A
    how = [f"{report.by_model} by the model's mask head"] if method == "model" else []
    if report.by_classical or method != "model":
        how.append(f"{report.by_classical} by "
                   f"{A.CLASSICAL_NAMES[method if method in A.CLASSICAL else A.FALLBACK]}")
    rest = ([f"{report.empty} found nothing in the box"] if report.empty else []) \
        + ([f"{report.unread} are on images that could not be read"] if report.unread else [])
    return (f"{report.filled} of {n} box-only annotation(s) filled ({', '.join(how)})"
            + (f"; {' and '.join(rest)}: they stay box-only" if rest else ""))


def cmd_from_boxes(args: argparse.Namespace) -> int:
    """Masks for the boxes without masks of whatever MaskLoop reads (COCO bbox-only
    annotations, YOLO box lines, labelme rectangles); everything else is kept as it is."""
    from model.net.from_boxes import box_only, fill_dataset
    from model.formats.sources import NAMES

    ds = open_path(args.path, args.images, follow_symlinks=args.follow_symlinks,
                   format_in=args.format_in, rectangles_as_boxes=True)
    for w in shown_warnings(ds.warnings):
        print(f"warning: {w}", file=sys.stderr)
    n = box_only(ds)
    if not n:
        _err(f"{args.path}: read as {NAMES.get(ds.source_format, ds.source_format)}, it has "
             "no box without a mask (--from-boxes fills COCO annotations with a bbox and no "
             "segmentation, YOLO box lines 'class cx cy w h' and labelme rectangles)")
        return 2
    print(f"read {args.path} as {NAMES.get(ds.source_format, ds.source_format)}: "
          f"{len(ds.images)} image(s), {n} box(es) without a mask", file=sys.stderr)
    predictor = None
    if args.method == "model":
        from model.net.predictor import Predictor
        predictor = Predictor(weights=args.weights, device=args.device, score_threshold=0.05,
                              min_size=args.min_size, max_size=args.max_size)
    bar = ProgressBar(sum(1 for r in ds.images if any(i.box_only for i in r.instances)),
                      "boxes")
    report = fill_dataset(ds, predictor, args.method, progress=lambda: bar.update(1))
    for s in report.skipped_images:
        print(f"\nwarning: skipped {s}", file=sys.stderr)
    written = _write_or_say(ds, args.out)
    if written is None:
        return 1
    print(f"wrote {written}: {fill_summary(report, n, args.method)}", file=sys.stderr)
    return 0 if report.filled else 1


def batches_by_shape(ds: Dataset, recs: list[ImageRecord],
                     batch_size: int) -> list[list[ImageRecord]]:
    """Batches of images the model resizes to the same shape: torchvision pads a batch
    to its largest image, so a mixed batch wastes work on padding (and the padding
    changes the features near the border). Images are grouped by aspect ratio, each
    group cut into batches. Sizes come from the records, else from the file headers;
    images whose header cannot be read come last (their read says why). Batch size 1:
    the input order."""
    if batch_size <= 1:
        return [[rec] for rec in recs]

    def aspect(rec: ImageRecord) -> float | None:
        w, h = (rec.width, rec.height) if rec.size_known else (None, None)
        if not (w and h and w > 0 and h > 0):
            try:
                w, h = read_size(ds.image_path(rec))
            except (ImageReadError, OSError, ValueError):
                return None
        return round(w / h, 2) if w > 0 and h > 0 else None
    groups: dict[float | None, list[ImageRecord]] = {}
    for rec in recs:
        groups.setdefault(aspect(rec), []).append(rec)
    keys = sorted((k for k in groups if k is not None)) + ([None] if None in groups else [])
    return [groups[k][i:i + batch_size] for k in keys
            for i in range(0, len(groups[k]), batch_size)]


def _predict_shard(src: Dataset, recs: list[ImageRecord], predictor, args) -> tuple[Dataset, int]:
    """Predict these images; the output keeps their ids, file names, extra keys and order."""
    from model.effort.attention import attention
    out = Dataset(categories=predictor.categories, image_root=src.image_root)
    bar = ProgressBar(len(recs), "predict")
    skipped = 0
    got: dict[int, tuple[int, int, list]] = {}  # id(rec) -> width, height, instances
    for batch in _prefetched(src, batches_by_shape(src, recs, args.batch_size),
                             args.max_pixels):
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
            got[id(rec)] = (w, h, instances, attention(instances, predictor=predictor, rgb=img))
        bar.update(len(batch))
    for rec in recs:  # the input's order, whatever order the batches ran in
        if id(rec) not in got:
            continue
        w, h, instances, new_attention = got[id(rec)]
        new = out.add_image(rec.file_name, w, h)
        new.id, new.extra = rec.id, {k: v for k, v in rec.extra.items()
                                     if k not in ("review", "attention")}
        if new_attention is not None:  # the review queue's order
            new.attention = new.extra["attention"] = new_attention
        for inst in instances:
            out.add_instance(new, inst)
    return out, skipped


def _part_path(out: Path, rank: int) -> Path:
    return out.with_name(f".{out.name}.rank{rank}.json")


def _merge(src: Dataset, out: Path, world: int) -> Dataset:
    """Rank 0: every rank's part, back in the input's image order, annotation ids
    numbered as a single process numbers them."""
    parts = [load_dataset(_part_path(out, r), src.image_root) for r in range(world)]
    by_id = {rec.id: rec for p in parts for rec in p.images}
    merged = Dataset(categories=parts[0].categories, image_root=src.image_root)
    for rec in src.images:
        got = by_id.get(rec.id)
        if got is None:
            continue  # skipped on its rank (and said there)
        new = merged.add_image(got.file_name, got.width, got.height)
        new.id, new.extra = got.id, got.extra
        for inst in got.instances:
            inst.id = None
            merged.add_instance(new, inst)
    return merged


def gated(src: Dataset, out: Dataset, predictor) -> tuple[Dataset, str]:
    """--score-threshold auto: the offer gate fitted on the input's done images (their
    fresh predictions priced against their annotations, model/effort/gate.py), then
    the offers that pass on the other images; done images are not written. Returns
    the output and one line saying the decision."""
    from model.effort.gate import fit
    from model.effort.gate_records import pair_records
    version = predictor.model_id
    seen = predictor.trained_on
    predicted = {rec.id: rec for rec in out.images}
    records, fitted_on, trained = [], 0, 0
    for rec in src.images:
        if rec.status != "done" or rec.id not in predicted:
            continue
        if rec.file_name in seen:
            trained += 1  # the checkpoint learnt from it: it would flatter the model
            continue
        got = predicted[rec.id]
        rec.learn_size(got.width, got.height)
        records += pair_records(rec, got, version)
        fitted_on += 1
    decision = fit(records, version)
    kept = Dataset(categories=out.categories, image_root=out.image_root, extra=out.extra)
    done_ids = {rec.id for rec in src.images if rec.status == "done"}
    t = decision.threshold
    for rec in out.images:
        if rec.id in done_ids:
            continue
        new = kept.add_image(rec.file_name, rec.width, rec.height)
        new.id, new.extra, new.attention = rec.id, rec.extra, rec.attention
        for inst in rec.instances:
            if t is not None and (inst.score if inst.score is not None else 1.0) >= t:
                inst.id = None
                kept.add_instance(new, inst)
    where = f"{fitted_on} done image(s)" + (f"; {trained} the checkpoint trained on left out"
                                            if trained else "")
    if decision.hidden:
        say = f"offer gate: no offers written: {decision.line()} ({where})"
    else:
        say = f"offer gate: {decision.line()} ({where}); {kept.num_instances()} offer(s) " \
              f"written on {len(kept.images)} image(s) not done"
    return kept, say


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict every image of PATH. Under torchrun (WORLD_SIZE > 1) each rank predicts
    its shard of the images and rank 0 writes the one output file."""
    from model.training.distributed import init_distributed
    from model.net.predictor import Predictor

    check_writable(args.out)  # before the model runs, not after
    from model.net.devices import configure_cpu_threads
    configure_cpu_threads(reserve=0)  # no window to keep smooth: every core (the app leaves one)
    if args.from_boxes:
        return cmd_from_boxes(args)
    src = open_path(args.path, args.images, use_saved_annotations=False,
                    follow_symlinks=args.follow_symlinks, format_in=args.format_in)
    for w in shown_warnings(src.warnings):
        print(f"warning: {w}", file=sys.stderr)
    if not src.images:
        _err(f"{args.path}: no images found")
        return 2
    from model.cli.args import AUTO
    from model.effort.gate import SCORE_FLOOR
    auto = args.score_threshold == AUTO
    d, device = init_distributed(args.device)
    try:
        predictor = Predictor(weights=args.weights, device=str(device) if d.on else args.device,
                              score_threshold=SCORE_FLOOR if auto else args.score_threshold,
                              min_size=args.min_size, max_size=args.max_size)
        out, skipped = _predict_shard(src, d.shard(src.images), predictor, args)
        if d.on:
            save_dataset(out, _part_path(args.out, d.rank))
            skipped = _sum_over_ranks(skipped)
            d.barrier()
            if not d.main:
                return 0
            out = _merge(src, args.out, d.world)
            for r in range(d.world):
                _part_path(args.out, r).unlink(missing_ok=True)
        done = len(src.images) - skipped
        if auto:
            out, line = gated(src, out, predictor)
            print(line, file=sys.stderr)
        written = _write_or_say(out, args.out)
        if written is None:
            return 1
        print(f"wrote {written}: {len(out.images)} image(s), {out.num_instances()} instance(s)"
              f"{f', {skipped} image(s) skipped' if skipped else ''}"
              f"{f' ({d.world} ranks)' if d.on else ''}", file=sys.stderr)
        return 0 if done > 0 else 1
    finally:
        d.close()


def _sum_over_ranks(n: int) -> int:
    import torch
    import torch.distributed as dist
    t = torch.tensor([n], dtype=torch.int64)
    dist.all_reduce(t)
    return int(t.item())
