"""Benchmark: does the loop pay? (issue 29, section 5: a benchmark that can't flatter)

A simulated person (model/effort/annotator.py: a careful person's cheaper routes, sourced
timings) labels a pool batch by batch while the model learns; every round is compared
with the no-model cost of the SAME images, in actions and in seconds.

- Data: one big image (nuclei) is cut into non-overlapping tiles; the rightmost column
  of tiles is the test set. A COCO file of many images (coco_sample): every fourth image
  is test. Test images never enter the pool, and nothing is trained on them.
- Round 0, no model: the first batch (the seed's random order) is labelled by hand.
- Round r >= 1: the model trains on the images labelled so far, continuing the previous
  round's model (one linear warm-up in round 1, then a constant rate: no warm-up or cosine
  restart), at native resolution (min_size = the tiles' or images' own side) with the RPN
  anchors fitted to the boxes (model/training/anchors.py). Its budget is the simulated
  person's seconds for the previous round times --budget (the share of a person's time
  this machine gives training running beside them), in iterations at the speed measured
  on this machine in the same run. A quarter of the labelled images is held out of its
  training: the round's model predicts them, and those predictions, priced against their
  labels, are the offer gate's first records for this version (gate_records, as the app's
  held-out evaluation), and score its box -> mask route.
- The next batch is chosen from the unlabelled pool by the strategy: random (the
  active-learning baseline; seeded) or uncertainty (highest attention first,
  model/effort/attention.py, as the app's review queue orders them). The person plays it
  in order with the offer gate
  (`--score-threshold auto`: fitted as it goes, never on test images), the gated box
  route and the click route, as `main.py simulate` does.
- Test segm AP of the round's model on the test set.

Figures per round and strategy, over --seeds (mean and spread): actions and seconds per
object and their ratio to the no-model cost of the same images; test AP; test AP per
1000 s and per 100 actions of the person's cumulative work. Written to bench/RESULTS.md
with the machine, and a plot (bench/loop.png).

Usage: python -m bench.loop [--data ../shared/data/nuclei] [--seeds 0,1,2] [--rounds 3]
[--batch 3] [--tile 128] [--strategies random,uncertainty] [--budget 0.25] [--device cpu]
[--threads N] [--json OUT.json]; python -m bench.loop --report A.json,B.json (one report of
runs made in parallel processes, e.g. --strategies random and --strategies uncertainty)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
from bench._results import gpu_label, add_no_write_option, write_section  # noqa: E402
from model.data.annotations import Dataset, ImageRecord, Instance  # noqa: E402
from model.data.coco import load_dataset, save_dataset  # noqa: E402
from model.data.images import read_image  # noqa: E402
from model.editing.queue import ATTENTION, ReviewQueue  # noqa: E402
from model.effort.annotator import TAU  # noqa: E402
from model.effort.dataset import DatasetEffort, simulate_dataset  # noqa: E402

STRATEGIES = ("random", "uncertainty")
PLOT = ROOT / "bench" / "loop.png"
HELD_OUT = 0.25  # of the labelled images: the version's held-out evaluation
WARMUP = 50  # iterations, round 1 only


# ---------------------------------------------------------------------------- data
def tiles(src: Path, out: Path, tile: int) -> tuple[Dataset, Dataset]:
    """(pool, test) of non-overlapping tiles of a one-image dataset: the rightmost
    column of tiles is the test set. An object cut by a tile's edge keeps its part in
    the tile when the part has at least 20 pixels."""
    import cv2
    ds = load_dataset(src / "instances.json" if src.is_dir() else src)
    rec = ds.images[0]
    img = read_image(ds.image_path(rec))
    h, w = img.shape[:2]
    cols, rows = w // tile, h // tile
    pool = Dataset(ds.categories, image_root=out)
    test = Dataset(ds.categories, image_root=out)
    for r in range(rows):
        for c in range(cols):
            x0, y0 = c * tile, r * tile
            name = f"tile_r{r}_c{c}.png"
            cv2.imwrite(str(out / name), np.ascontiguousarray(
                img[y0:y0 + tile, x0:x0 + tile, ::-1]))
            target = test if c == cols - 1 else pool
            t = target.add_image(name, tile, tile)
            t.status = "done"
            for inst in rec.instances:
                part = inst.full_mask(h, w)[y0:y0 + tile, x0:x0 + tile]
                if part.sum() >= 20:
                    target.add_instance(t, Instance(inst.category_id, part.copy(),
                                                    review="accepted"))
    return pool, test


def split_images(src: Path, work: Path) -> tuple[Dataset, Dataset]:
    """(pool, test) of a COCO file of many images: every fourth image is test. The
    images are copied into `work`, where each round's training file is written."""
    import shutil
    ds = load_dataset(src / "instances.json" if src.is_dir() else src)
    for rec in ds.images:
        dst = work / rec.file_name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ds.image_path(rec), dst)
    parts = []
    for keep in (lambda k: k % 4 != 3, lambda k: k % 4 == 3):
        out = Dataset(ds.categories, image_root=work)
        for k, rec in enumerate(ds.images):
            if keep(k):
                r = out.add_image(rec.file_name, rec.width, rec.height)
                r.id, r.status = rec.id, "done"
                for inst in rec.instances:
                    out.add_instance(r, inst)
        parts.append(out)
    return parts[0], parts[1]


def subset(ds: Dataset, ids: list[int]) -> Dataset:
    """The images `ids` in that order (labelled: accepted)."""
    out = Dataset(ds.categories, image_root=ds.image_root)
    for i in ids:
        rec = ds.image_by_id(i)
        r = out.add_image(rec.file_name, rec.width, rec.height)
        r.id, r.status = rec.id, "done"
        for inst in rec.instances:
            c = inst.copy()
            c.review = "accepted"
            out.add_instance(r, c)
    return out


def saved(ds: Dataset, path: Path) -> Path:
    save_dataset(ds, path)
    return path


def native_size(ds: Dataset) -> tuple[int, int]:
    """min_size and max_size that keep the images at their own resolution."""
    short = [min(r.width, r.height) for r in ds.images]
    long = [max(r.width, r.height) for r in ds.images]
    return int(np.median(short)), int(max(long))


# --------------------------------------------------------------------------- model
class Budget:
    """Iterations a round may train: the person's seconds x factor, at this machine's
    seconds per iteration, measured before the first round (calibrate)."""

    def __init__(self, factor: float):
        self.factor = factor
        self.s_per_iter = 1.0

    def iterations(self, person_seconds: float) -> int:
        return max(20, int(person_seconds * self.factor / self.s_per_iter))

    def calibrate(self, train: Path, work: Path, a, size: tuple[int, int]) -> float:
        """Two short runs from the round-1 start point on `train`; the difference of their
        times over the difference of their iterations leaves the set-up out."""
        a.seed_now = 0
        t5 = train_round(train, work / "calib5.pt", a.weights, 5, 1, a, size)
        t25 = train_round(train, work / "calib25.pt", a.weights, 25, 1, a, size)
        self.s_per_iter = max(1e-3, (t25 - t5) / 20)
        return self.s_per_iter


def train_round(train: Path, out: Path, start: str, iterations: int, r: int, a,
                size: tuple[int, int]) -> float:
    """Train round r's model; returns the wall seconds it took."""
    from model.training.config import TrainConfig
    from model.training.train import run_training
    t = time.perf_counter()
    run_training(TrainConfig(
        coco=train, out=out, weights=start, all_images=True, iterations=iterations,
        batch_size=2, device=a.device, min_size=size[0], max_size=size[1], workers=0,
        val_fraction=0.0, seed=a.seed_now, rois_per_image=128, schedule="constant",
        warmup_iters=WARMUP if r == 1 else 0, anchors="auto", scale_jitter=0.0,
        model_id=out.stem, checkpoint_every_s=1e9))
    return time.perf_counter() - t


def predictor_for(ckpt: Path, a, size: tuple[int, int]):
    import torch
    from model.net.predictor import Predictor
    torch.manual_seed(0)
    from model.effort.gate import SCORE_FLOOR
    return Predictor(weights=str(ckpt), device=a.device, score_threshold=SCORE_FLOOR,
                     min_size=size[0], max_size=size[1])


def predict(p, ds: Dataset, ids: list[int]) -> dict[int, tuple[list[Instance], np.ndarray]]:
    out = {}
    for i in ids:
        rec = ds.image_by_id(i)
        rgb = read_image(ds.image_path(rec))
        out[i] = (p.predict(rgb), rgb)
    return out


def as_dataset(ds: Dataset, preds: dict[int, tuple[list[Instance], np.ndarray]],
               ids: list[int]) -> Dataset:
    out = Dataset(ds.categories, image_root=ds.image_root)
    for i in ids:
        rec = ds.image_by_id(i)
        r = out.add_image(rec.file_name, rec.width, rec.height)
        r.id = rec.id
        for inst in preds[i][0]:
            out.add_instance(r, inst)
    return out


def test_ap(p, test: Dataset) -> float | None:
    from model.metrics.evaluate import evaluate, results_from_dataset
    got = as_dataset(test, predict(p, test, [r.id for r in test.images]),
                     [r.id for r in test.images])
    return evaluate(test, results_from_dataset(got, test))["segm"]["AP"]


# ------------------------------------------------------------------------- the loop
@dataclass
class Round:
    strategy: str
    seed: int
    round: int
    images: int
    instances: int
    actions: int
    seconds: float
    base_actions: int  # the no-model cost of the same images
    base_seconds: float
    ap: float | None = None
    iterations: int = 0
    shown: int = 0  # offers shown to the person
    hidden_images: int = 0  # images on which the gate showed nothing
    gate: dict = field(default_factory=dict)
    recall: float | None = None  # objects with a prediction (score >= 0.5) of mask IoU >= 0.5
    mask_iou: float | None = None  # those predictions' mean mask IoU with their objects

    @property
    def ratio_actions(self) -> float:
        return self.actions / self.base_actions if self.base_actions else 1.0

    @property
    def ratio_seconds(self) -> float:
        return self.seconds / self.base_seconds if self.base_seconds else 1.0


def quality(batch: Dataset, offers: Dataset, score: float = 0.5) -> tuple[float, float | None]:
    """What the model offers, gate aside: the share of objects it finds (a prediction of
    score >= `score` at mask IoU >= 0.5, each used once) and their mean mask IoU: the
    two obstacles the quality sweep prices (recall, mask error)."""
    found, ious, total = 0, [], 0
    for rec in batch.images:
        truth = [i.full_mask(rec.height, rec.width) for i in rec.instances if not i.iscrowd]
        preds = [i.full_mask(rec.height, rec.width) for i in offers.image_by_id(rec.id).instances
                 if i.score is None or i.score >= score]
        total += len(truth)
        used: set[int] = set()
        for t in truth:
            best, at = 0.0, -1
            for j, q in enumerate(preds):
                if j in used:
                    continue
                union = np.logical_or(t, q).sum()
                v = np.logical_and(t, q).sum() / union if union else 0.0
                if v > best:
                    best, at = float(v), j
            if best >= 0.5:
                used.add(at)
                found += 1
                ious.append(best)
    return found / max(total, 1), (float(np.mean(ious)) if ious else None)


def play(batch: Dataset, offers: Dataset | None, version: str, heldout: list,
         routes) -> tuple[DatasetEffort, int, int, dict]:
    """The person plays the batch in order with the gate primed by the held-out records."""
    from model.effort.gate import OnlineGate
    gate = None
    if offers is not None:
        gate = OnlineGate(version)
        gate.records += heldout
        gate.refit()
    box, cands = routes if routes is not None else (None, None)
    e = simulate_dataset(batch, offers, iou=TAU, box_to_mask=box, candidates=cands, gate=gate)
    shown = sum(1 for r in e.per_image for i in r.effort.per_instance if i.offered is not None)
    hidden = sum(1 for r in e.per_image if r.gate is not None and r.gate.hidden)
    return e, shown, hidden, ({} if gate is None else gate.decision.to_json())


def run_strategy(strategy: str, seed: int, pool: Dataset, test: Dataset, work: Path, a,
                 size: tuple[int, int], budget: Budget) -> list[Round]:
    from model.effort import attention as A
    from model.effort.gate_records import pair_records
    from model.effort.routes import model_routes
    rng = np.random.default_rng(seed)
    order = [int(i) for i in rng.permutation([r.id for r in pool.images])]
    labelled = order[:a.batch]
    first = subset(pool, labelled)
    e0, _s, _h, _g = play(first, None, "", [], None)
    rounds = [Round(strategy, seed, 0, len(labelled), e0.instances, e0.actions, e0.seconds,
                    e0.actions, e0.seconds)]
    start, person_s = a.weights, e0.seconds
    for r in range(1, a.rounds + 1):
        rest = [i for i in order if i not in labelled]
        if not rest:
            break
        held = labelled[-max(1, int(round(HELD_OUT * len(labelled)))):]
        trained = [i for i in labelled if i not in held]
        ckpt = work / f"{strategy}_s{seed}_r{r}.pt"
        its = budget.iterations(person_s)
        a.seed_now = seed
        wall = train_round(saved(subset(pool, trained), work / f"{strategy}_s{seed}_r{r}.json"), ckpt,
                           start, its, r, a, size)
        start = str(ckpt)
        p = predictor_for(ckpt, a, size)
        version = ckpt.stem
        # held-out: the gate's first records and the box route's first scores
        box, cands = model_routes(p)
        heldout = []
        for i, (preds, rgb) in predict(p, pool, held).items():
            rec = pool.image_by_id(i)
            got = ImageRecord(id=i, file_name=rec.file_name, width=rec.width, height=rec.height)
            got.instances = preds
            heldout += pair_records(rec, got, version)
            box.learn(rgb, [inst for inst in rec.instances if not inst.iscrowd])
        predicted = predict(p, pool, rest)
        if strategy == "random":
            batch_ids = rest[:a.batch]
        else:
            att = {i: A.attention(predicted[i][0], a.attention, predictor=p, rgb=predicted[i][1])
                   for i in rest}
            # the app's review queue in its attention order (model/editing/queue.py)
            queue = ReviewQueue([pool.image_by_id(i) for i in rest], order=ATTENTION,
                                attention=lambda rec: att[rec.id])
            batch_ids = [queue.images[row].id for row in queue.visible()[:a.batch]]
        batch = subset(pool, batch_ids)
        e, shown, hidden, gate = play(batch, as_dataset(pool, predicted, batch_ids), version,
                                      heldout, (box, cands))
        base, _s, _h, _g = play(batch, None, "", [], None)
        recall, mask_iou = quality(batch, as_dataset(pool, predicted, batch_ids))
        ap = test_ap(p, test)
        labelled += batch_ids
        person_s = e.seconds
        rounds.append(Round(strategy, seed, r, len(batch_ids), e.instances, e.actions,
                            e.seconds, base.actions, base.seconds, ap, its, shown, hidden,
                            gate, recall, mask_iou))
        x = rounds[-1]
        print(f"{strategy} seed {seed} round {r}: {its} it ({wall:.0f} s), {x.instances} obj, "
              f"{x.actions} actions ({x.ratio_actions:.2f}x), {x.seconds:.0f} s "
              f"({x.ratio_seconds:.2f}x), {shown} offers shown, gate hid {hidden} of "
              f"{x.images} images, test AP {ap if ap is None else round(ap, 3)}, recall "
              f"{recall:.2f}, mask IoU {mask_iou if mask_iou is None else round(mask_iou, 3)}",
              file=sys.stderr, flush=True)
    return rounds


# ---------------------------------------------------------------------------- report
def _ms(values: list[float]) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "-"
    return f"{np.mean(v):.2f} ± {np.std(v):.2f}"


def table(results: list[Round], strategies: list[str], rounds: int) -> list[str]:
    lines = ["| strategy | round | objects | actions / no model | seconds / no model | "
             "worst seed (s) | offers shown | images hidden | test segm AP | "
             "AP per 1000 person-s | AP per 100 actions | recall (score 0.5, IoU 0.5) | "
             "their mask IoU |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in strategies:
        for r in range(rounds + 1):
            rows = [x for x in results if x.strategy == s and x.round == r]
            if not rows:
                continue
            cum = [(sum(y.seconds for y in results if y.strategy == s and y.seed == x.seed
                        and y.round <= r),
                    sum(y.actions for y in results if y.strategy == s and y.seed == x.seed
                        and y.round <= r), x.ap) for x in rows]
            per_s = [1000 * ap / cs for cs, _ca, ap in cum if ap is not None and cs]
            per_a = [100 * ap / ca for _cs, ca, ap in cum if ap is not None and ca]
            lines.append(
                f"| {s} | {r} | {np.mean([x.instances for x in rows]):.0f} | "
                f"{_ms([x.ratio_actions for x in rows])}x | "
                f"{_ms([x.ratio_seconds for x in rows])}x | "
                f"{max(x.ratio_seconds for x in rows):.2f}x | "
                f"{np.mean([x.shown for x in rows]):.0f} | "
                f"{np.mean([x.hidden_images for x in rows]):.1f} of {rows[0].images} | "
                f"{_ms([x.ap for x in rows])} | {_ms(per_s)} | {_ms(per_a)} | "
                f"{_ms([x.recall for x in rows])} | {_ms([x.mask_iou for x in rows])} |")
    return lines


def plot(results: list[Round], path: Path, strategies: list[str], rounds: int) -> None:
    """Two panels drawn with OpenCV: seconds / no-model seconds and test segm AP per
    round, mean over seeds with the spread as a bar."""
    import cv2
    colors = {"random": (60, 160, 60), "uncertainty": (40, 60, 220), "order": (200, 80, 40)}
    W, H, M = 420, 300, 50
    img = np.full((H + 40, 2 * W, 3), 255, np.uint8)
    panels = [("seconds / no-model seconds", lambda x: x.ratio_seconds, 1.5),
              ("test segm AP", lambda x: x.ap or 0.0, None)]
    for k, (title, get, top) in enumerate(panels):
        x0 = k * W
        vals = [get(x) for x in results]
        top = top or (max(vals, default=0.0) * 1.2 or 0.1)
        cv2.putText(img, title, (x0 + M, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
        cv2.rectangle(img, (x0 + M, 35), (x0 + W - 15, H - 25), (0, 0, 0), 1)

        def y_of(v):
            return int(H - 25 - (H - 60) * min(v, top) / top)
        for j in range(5):
            v = top * j / 4
            cv2.putText(img, f"{v:.2f}", (x0 + 5, y_of(v) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (0, 0, 0), 1)
        if k == 0:
            cv2.line(img, (x0 + M, y_of(1.0)), (x0 + W - 15, y_of(1.0)), (150, 150, 150), 1)

        def x_of(r):
            return int(x0 + M + (W - M - 30) * r / max(rounds, 1)) + 5
        for r in range(rounds + 1):
            cv2.putText(img, str(r), (x_of(r) - 3, H - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (0, 0, 0), 1)
        for s in strategies:
            pts = []
            for r in range(rounds + 1):
                v = [get(x) for x in results if x.strategy == s and x.round == r]
                if v:
                    pts.append((x_of(r), y_of(float(np.mean(v))), y_of(min(v)), y_of(max(v))))
            c = colors.get(s, (0, 0, 0))
            for p, q in zip(pts, pts[1:]):
                cv2.line(img, p[:2], q[:2], c, 2, cv2.LINE_AA)
            for p in pts:
                cv2.circle(img, p[:2], 3, c, -1)
                cv2.line(img, (p[0], p[2]), (p[0], p[3]), c, 1)
    for j, s in enumerate(strategies):
        cv2.putText(img, s, (M + 150 * j, H + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    colors.get(s, (0, 0, 0)), 2)
    cv2.putText(img, "x: round", (2 * W - 90, H + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (0, 0, 0), 1)
    cv2.imwrite(str(path), img)


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "nuclei"))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=3, help="images (tiles) per round")
    ap.add_argument("--tile", type=int, default=128, help="one-image data: tile side")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--attention", default="mask", help="the uncertainty strategy's score")
    ap.add_argument("--weights", default="none", help="round 1's start point")
    ap.add_argument("--budget", type=float, default=0.25,
                    help="training seconds per second of the person's work in the round "
                         "before (this machine's share for a background trainer)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch's threads (1: the core the app leaves its background trainer "
                         "on a 2-core machine; then strategies can run as parallel processes)")
    ap.add_argument("--s-per-iter", type=float, default=None,
                    help="seconds per training iteration, instead of measuring it")
    ap.add_argument("--report", default=None,
                    help="comma-separated --json files of earlier runs (e.g. one process per "
                         "strategy): their figures as one report, no training")
    ap.add_argument("--section", default=None, help="RESULTS.md section (default loop-<data>)")
    ap.add_argument("--plot", default=str(PLOT), help="where the plot goes (default bench/loop.png)")
    ap.add_argument("--json", default=None, help="also write every round as JSON here")
    add_no_write_option(ap)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    a = parse(argv)
    if a.report:
        runs = [json.loads(Path(f).read_text()) for f in a.report.split(",")]
        results = [Round(**x) for run in runs for x in run["rounds"]]
        meta = dict(runs[0]["meta"])
        for key in ("strategies", "seeds", "s_per_iter"):
            meta[key] = sorted({v for run in runs for v in run["meta"][key]},
                               key=lambda v: [x for run in runs
                                              for x in run["meta"][key]].index(v))
        meta["wall"] = sum(run["meta"]["wall"] for run in runs)
        meta["processes"] = len(runs)
        return report(results, meta, a)
    import random

    import torch
    if a.threads:  # the entry point decides torch's threads once (the library never does)
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    strategies = a.strategies.split(",")
    seeds = [int(s) for s in a.seeds.split(",")]
    results: list[Round] = []
    budget = Budget(a.budget)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = Path(a.data)
        one = (src / "instances.json").is_file() and len(
            json.loads((src / "instances.json").read_text())["images"]) == 1
        pool, test = tiles(src, work, a.tile) if one else split_images(src, work)
        size = native_size(pool)
        if a.s_per_iter:
            budget.s_per_iter = a.s_per_iter
        else:
            budget.calibrate(saved(subset(pool, [r.id for r in pool.images[:a.batch]]),
                                   work / "calibrate.json"), work, a, size)
        print(f"{'given' if a.s_per_iter else 'calibrated'}: {budget.s_per_iter:.2f} s per "
              f"iteration", file=sys.stderr)
        for seed in seeds:
            for s in strategies:
                torch.manual_seed(seed)  # the entry point seeds, once a run
                np.random.seed(seed)
                random.seed(seed)
                results += run_strategy(s, seed, pool, test, work, a, size, budget)
    meta = {"data": src.name or str(src), "pool": len(pool.images), "test": len(test.images),
            "one": one, "tile": a.tile, "rounds": a.rounds, "batch": a.batch,
            "seeds": seeds, "strategies": strategies, "weights": a.weights, "size": size,
            "budget": a.budget, "s_per_iter": [round(budget.s_per_iter, 3)],
            "threads": torch.get_num_threads(), "device": a.device,
            "wall": time.perf_counter() - t0, "processes": 1}
    if a.json:
        Path(a.json).write_text(json.dumps({"meta": meta, "rounds": [x.__dict__ for x in results]},
                                           indent=1))
    return report(results, meta, a)


def report(results: list[Round], m: dict, a) -> int:
    """The figures of one run, or of several processes' --json files (--report)."""
    per_obj = [x.base_seconds / max(x.instances, 1) for x in results]
    lines = [f"{m['data']}: pool {m['pool']} images, test {m['test']} "
             f"({'non-overlapping ' + str(m['tile']) + '-px tiles, the rightmost column is test' if m['one'] else 'every fourth image is test'}); "
             f"{m['rounds']} rounds of {m['batch']} images after a round 0 without a model; "
             f"seeds {','.join(map(str, m['seeds']))}; from --weights {m['weights']}; native "
             f"size {m['size'][0]}/{m['size'][1]} with fitted anchors; training budget "
             f"{m['budget']:g} s per person-second of the round before ("
             f"{'/'.join(f'{v:.2f}' for v in m['s_per_iter'])} s per iteration measured here "
             f"with {m['threads']} torch thread(s)), continuing one schedule; {m['device']}; "
             f"annotator model/effort/annotator.py at IoU {TAU}, offer gate auto, held-out "
             f"share {HELD_OUT:g}; no-model cost {np.mean(per_obj):.1f} s per object; "
             f"wall {m['wall']:.0f} s over {m['processes']} process(es)",
             "each round's ratios are to the no-model cost of the same images (mean ± sd "
             "over seeds; 'worst seed' is the largest seconds ratio); recall and mask IoU are "
             "what the round's model offers on the batch, gate aside"]
    lines += table(results, m["strategies"], m["rounds"])
    worst_a = max((x.ratio_actions for x in results if x.round), default=None)
    worst_s = max((x.ratio_seconds for x in results if x.round), default=None)
    if worst_a is not None:
        lines.append(f"worst round of any strategy and seed: {worst_a:.2f}x actions, "
                     f"{worst_s:.2f}x seconds (target: never above 1.00x)")
    last = [x for x in results if x.round == m["rounds"]]
    if last:
        lines.append(f"round {m['rounds']}: {_ms([x.ratio_seconds for x in last])}x the "
                     f"no-model seconds over strategies and seeds (target on nuclei from random "
                     f"weights on this CPU: <= 0.5x, what recall 0.8 at about 1 px mask error "
                     f"gives in the quality sweep); its model's recall "
                     f"{_ms([x.recall for x in last])}, mask IoU "
                     f"{_ms([x.mask_iou for x in last])}")
    lines.append(f"plot: bench/{Path(a.plot).name}")
    print("\n".join(lines))
    if not a.no_write:
        plot(results, Path(a.plot), m["strategies"], m["rounds"])
        write_section(a.section or f"loop-{m['data']}", "bench/loop.py", lines,
                      gpu_label(m["device"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
