"""Benchmark: does the audit find known label errors? (issue 21, section 3)

Known errors are injected into a clean COCO set: 10 % of the instances dropped, the
class of 5 % changed, 5 % of the masks eroded or dilated by 30 % of their area (in turn),
5 % spurious instances added (discs the size of a median instance where nothing is). The
audit (model/audit) then ranks its suspects; for each error type the top N of that
reason, N = 2 x the number injected, are scored: recall (injected errors found) and
precision (of those N, the share that are injected errors).

- clean: the clean annotations as the predictions (scores drawn from 0.6..1.0): the
  rules alone; the target is recall >= 0.9 for every type.
- folds: cross-predictions (--folds K) of models trained from random weights on the
  corrupted nuclei tiles on the CPU at small settings: what a weak model reaches
  (bench/gpu_check.py runs the longer-trained version).

A set with one class (nuclei) gets a second class ('other') for the class changes.

Usage: python -m bench.audit [--data ../shared/data/coco_sample ../shared/data/nuclei]
       [--folds 3 --iterations 40 --tile 128 --min-size 192] [--skip-folds] [--no-write]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
from bench._results import gpu_label, add_no_write_option, write_section  # noqa: E402
from model.audit.suspects import REASONS, Suspect, find_suspects  # noqa: E402
from model.data.annotations import Category, Dataset, Instance  # noqa: E402
from model.data.coco import load_dataset, save_dataset  # noqa: E402
from model.editing.review import mask_iou  # noqa: E402

SHARE = {"missing": 0.10, "wrong_class": 0.05, "sloppy_mask": 0.05, "spurious": 0.05}
AREA_CHANGE = 0.30


def resize_area(full: np.ndarray, factor: float) -> np.ndarray:
    """The mask eroded (factor < 1) or dilated (> 1) to factor x its area, along the
    distance to its boundary, so the shape keeps its outline."""
    target = full.sum() * factor
    m8 = full.astype(np.uint8)
    if factor < 1:
        d = cv2.distanceTransform(m8, cv2.DIST_L2, 5)
        ts = np.sort(d[full])  # keep pixels deeper than t
        t = ts[min(len(ts) - 1, int(round(len(ts) - target)))]
        return d > t if (d > t).any() else full
    d = cv2.distanceTransform(1 - m8, cv2.DIST_L2, 5)
    grow = np.sort(d[~full])
    k = int(round(target - full.sum()))
    return full | (d <= grow[min(len(grow) - 1, max(0, k - 1))])


def inject(ds: Dataset, seed: int = 0):
    """Corrupt ds in place; returns the clean predictions and the injected errors:
    {reason: [(image_id, annotation id or the dropped Instance)]}."""
    rng = np.random.default_rng(seed)
    if len(ds.categories) < 2:
        ds.categories.append(Category(max(c.id for c in ds.categories) + 1, "other"))
    preds: dict[int, list[Instance]] = {}
    pool = []
    for rec in ds.images:
        ds.ensure_size(rec)
        rec.status = "done"
        rec.instances = [i for i in rec.instances if not i.iscrowd and i.mask.size]
        preds[rec.id] = [Instance(i.category_id, i.mask, i.offset, source="model",
                                  score=float(rng.uniform(0.6, 1.0))) for i in rec.instances]
        pool += [(rec, i) for i in rec.instances]
    n = len(pool)
    order = rng.permutation(n)
    counts = {r: max(1, int(round(n * s))) for r, s in SHARE.items()}
    picked, k = {}, 0
    for r in ("missing", "wrong_class", "sloppy_mask"):
        picked[r] = [pool[j] for j in order[k:k + counts[r]]]
        k += counts[r]
    truth: dict[str, list] = {r: [] for r in REASONS}
    for rec, inst in picked["missing"]:
        rec.instances.remove(inst)
        truth["missing"].append((rec.id, inst))
    cat_ids = [c.id for c in ds.categories]
    for rec, inst in picked["wrong_class"]:
        inst.category_id = int(rng.choice([c for c in cat_ids if c != inst.category_id]))
        truth["wrong_class"].append((rec.id, inst.id))
    for j, (rec, inst) in enumerate(picked["sloppy_mask"]):
        full = inst.full_mask(rec.height, rec.width)
        inst.set_mask(resize_area(full, 1 - AREA_CHANGE if j % 2 else 1 + AREA_CHANGE))
        truth["sloppy_mask"].append((rec.id, inst.id))
    radius = max(3, int(np.sqrt(np.median([np.count_nonzero(i.mask) for _, i in pool]) / np.pi)))
    added = 0
    while added < counts["spurious"]:
        rec = ds.images[int(rng.integers(len(ds.images)))]
        cx, cy = int(rng.integers(radius, rec.width - radius)), \
            int(rng.integers(radius, rec.height - radius))
        yy, xx = np.mgrid[:rec.height, :rec.width]
        full = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2
        disc = Instance(int(rng.choice(cat_ids)), full)
        if any(np.count_nonzero(a.full_mask(rec.height, rec.width) & full) for a in
               rec.instances + preds[rec.id]):
            continue
        disc.id = ds.new_annotation_id()
        rec.instances.append(disc)
        truth["spurious"].append((rec.id, disc.id))
        added += 1
    return preds, truth


def score(suspects: list[Suspect], truth: dict, ds: Dataset) -> dict[str, tuple]:
    """(injected, recall, precision) of the top N = 2 x injected suspects per reason."""
    out = {}
    for r in REASONS:
        want = truth[r]
        top = [s for s in suspects if s.reason == r][:2 * len(want)]
        hits = set()
        for s in top:
            for k, (image_id, what) in enumerate(want):
                if image_id != s.image_id or k in hits:
                    continue
                if r == "missing":
                    alt = s.alternative(ds.image_by_id(image_id).height,
                                        ds.image_by_id(image_id).width)
                    if mask_iou(alt, what) >= 0.5:
                        hits.add(k)
                        break
                elif s.annotation_id == what:
                    hits.add(k)
                    break
        out[r] = (len(want), len(hits) / max(1, len(want)), len(hits) / max(1, len(top)))
    return out


def table(name: str, result: dict) -> list[str]:
    return [f"{name}, {r}: {n} injected, top-{2 * n} recall {rec:.2f}, precision {prec:.2f}"
            for r, (n, rec, prec) in result.items()]


def tiles(ds: Dataset, folder: Path, tile: int) -> Dataset:
    """The set cut into tile x tile images (a one-image set needs folds of images)."""
    from model.data.images import read_image
    out = Dataset(ds.categories, image_root=folder)
    for rec in ds.images:
        img = read_image(ds.image_path(rec))
        for y in range(0, rec.height - tile + 1, tile):
            for x in range(0, rec.width - tile + 1, tile):
                name = f"{Path(rec.file_name).stem}_{y}_{x}.png"
                cv2.imwrite(str(folder / name), img[y:y + tile, x:x + tile, ::-1])
                t = out.add_image(name, tile, tile)
                t.status = "done"
                for inst in rec.instances:
                    crop = inst.full_mask(rec.height, rec.width)[y:y + tile, x:x + tile]
                    if np.count_nonzero(crop) >= 16:
                        out.add_instance(t, Instance(inst.category_id, crop))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = next((p / "shared/data" for p in ROOT.parents if (p / "shared/data").is_dir()),
                  ROOT.parent / "shared/data")  # ../shared from the checkout (or a worktree)
    ap.add_argument("--data", nargs="+", default=[str(shared / "coco_sample"),
                                                  str(shared / "nuclei")])
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--min-size", type=int, default=192)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-folds", action="store_true")
    add_no_write_option(ap)
    args = ap.parse_args()
    lines = []
    for data in args.data:
        ds = load_dataset(Path(data) / "instances.json")
        preds, truth = inject(ds)
        result = score(find_suspects(ds, preds), truth, ds)
        name = f"{Path(data).name} clean predictions"
        lines += table(name, result)
        print("\n".join(table(name, result)), flush=True)
    if not args.skip_folds:
        from model.audit.folds import cross_predictions
        from model.training.config import TrainConfig
        from model.training.rng import seed_all
        seed_all(0)  # as `main.py audit` seeds its process
        data = Path(next(d for d in args.data if "nuclei" in d))
        with tempfile.TemporaryDirectory() as tmp:
            ds = tiles(load_dataset(data / "instances.json"), Path(tmp), args.tile)
            _, truth = inject(ds)
            save_dataset(ds, Path(tmp) / "corrupted.json")
            base = TrainConfig(coco=Path(tmp) / "corrupted.json", out=Path(tmp) / "m.pt",
                               weights="none", iterations=args.iterations, batch_size=2,
                               device=args.device, min_size=args.min_size,
                               max_size=args.min_size, workers=0, warmup_iters=10)
            t0 = time.perf_counter()
            preds = cross_predictions(
                ds, args.folds, base, lambda m: print(m, flush=True),
                emit=lambda e: print(f"  iteration {e['iteration']}/{e['total']}, "
                                     f"{e['eta_s']:.0f} s left", flush=True)
                if e.get("event") == "iter" and e["iteration"] % 10 == 0 else None)
            took = time.perf_counter() - t0
            result = score(find_suspects(ds, preds), truth, ds)
            name = (f"nuclei cross-predictions ({len(ds.images)} tiles of {args.tile} px, "
                    f"{args.folds} folds x {args.iterations} iterations from random weights "
                    f"at min_size {args.min_size}, {args.device}, {took / 60:.1f} min)")
            lines += table(name, result)
            print("\n".join(table(name, result)), flush=True)
    if not args.no_write:
        cuda = args.device.startswith("cuda") and not args.skip_folds
        write_section("Audit on CUDA: injected label errors" if cuda else
                      "Audit: injected label errors", "bench/audit.py", lines,
                      gpu_label(args.device) if cuda else "")


if __name__ == "__main__":
    main()
