"""Benchmark: does the loop pay? (issue 20, section 2). A simulated annotator labels a
pool batch by batch; between batches the model is fine-tuned and predicts the pool.

- The COCO set is split into a pool and a test set (nuclei: 256x256 crops of the one
  image, pool crops left of x = 384, test crops right of it; a COCO file: every
  fourth image is test).
- Round 0, no model: the annotator labels the first --batch pool images from nothing.
- Round r >= 1: fine-tune through `main.py train`'s code path (run_training, from the
  last round's checkpoint; round 1 from --weights) on every image labelled so far,
  predict the unlabelled pool, choose the next batch by the strategy (order: file
  order; random: seeded; uncertainty: highest attention first, model/effort/attention.py),
  let the annotator correct the predictions, and evaluate segm AP on the test set.
- The labelled images join the training set with their ground truth (the annotator's
  final masks reach IoU tau against it).
- Every predicted pool image also scores the three attention candidates against what
  the annotator spends on it (Spearman rank correlation, per round and strategy, averaged):
  the review queue's default is chosen by this figure.

The annotator is model/effort/annotator.py's simulate_image (its policy and counting
scheme are the `simulate` command's; missed objects take the cheaper of the classical
box route and a polygon).

Output: a table per round and strategy (actions per instance, segm AP), the total
actions to reach round --rounds' AP of `order`, a PNG plot, and its RESULTS.md section.

Usage: python bench/loop.py [--data ../shared/data/nuclei] [--rounds 3] [--batch 4]
[--min-size 128] [--iterations 40] [--strategies order,random,uncertainty] [--device cpu]
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
sys.path.insert(0, str(ROOT))
from bench._results import gpu_label, write_section  # noqa: E402
from model.data.annotations import Dataset, ImageRecord, Instance  # noqa: E402
from model.data.coco import load_dataset, save_dataset  # noqa: E402
from model.data.images import read_image  # noqa: E402
from model.effort.annotator import simulate_image  # noqa: E402

TAU = 0.9
STRATEGIES = ("order", "random", "uncertainty")
PLOT = ROOT / "bench" / "loop.png"


# ----------------------------------------------------------------------- the annotator
def annotate(gt: ImageRecord, preds: list[Instance], tau: float = TAU) -> tuple[int, int]:
    """(actions, instances) the simulated annotator (model/effort/annotator.py) spends on
    one image given these predictions; missed objects by the classical box route (the
    benchmark measures the predictions, not the model's box -> mask)."""
    r = simulate_image(gt.instances, preds, gt.height, gt.width, iou=tau)
    return int(r.actions), int(r.instances)


def annotator_name() -> str:
    return f"model/effort/annotator.py (tau {TAU})"


# ---------------------------------------------------------------------------- data
def split_set(a, work: Path) -> tuple[Path, Path]:
    """(pool COCO, test COCO)."""
    if Path(a.data, "instances.json").is_file() and len(
            json.loads(Path(a.data, "instances.json").read_text())["images"]) == 1:
        from bench.learning import make_crops  # one big image: crops, as bench/learning.py
        return make_crops(Path(a.data), work, a.pool, a.test, seed=a.seed)
    src = Path(a.data)
    coco = src / "instances.json" if src.is_dir() else src
    ds = load_dataset(coco)
    parts = []
    for name, keep in (("pool", lambda k: k % 4 != 3), ("test", lambda k: k % 4 == 3)):
        out = Dataset(ds.categories, image_root=ds.image_root)
        for k, rec in enumerate(ds.images):
            if keep(k):
                r = out.add_image(rec.file_name, rec.width, rec.height)
                r.id, r.status = rec.id, "done"
                for inst in rec.instances:
                    out.add_instance(r, inst)
        path = work / f"{name}.json"
        save_dataset(out, path)
        parts.append(path)
    return parts[0], parts[1]


def subset(ds: Dataset, ids: list[int], path: Path) -> Path:
    out = Dataset(ds.categories, image_root=ds.image_root)
    for rec in ds.images:
        if rec.id in ids:
            r = out.add_image(rec.file_name, rec.width, rec.height)
            r.id, r.status = rec.id, "done"
            for inst in rec.instances:
                i = inst.copy()
                i.review = "accepted"
                out.add_instance(r, i)
    save_dataset(out, path)
    return path


# ------------------------------------------------------------------------- the loop
@dataclass
class Round:
    strategy: str
    round: int
    images: int
    instances: int
    actions: int
    ap: float | None
    seconds: float
    corr: dict = field(default_factory=dict)  # attention method -> Spearman vs cost

    @property
    def per_instance(self) -> float:
        return self.actions / max(self.instances, 1)


def spearman(x, y) -> float | None:
    """Rank correlation (average ranks for ties); None when either side is constant."""
    def ranks(v):
        v = np.asarray(v, float)
        order = v.argsort(kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for u in np.unique(v):
            r[v == u] = r[v == u].mean()
        return r
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def train_round(train: Path, out: Path, weights: str, a) -> None:
    from model.training.config import TrainConfig
    from model.training.rng import seed_all
    from model.training.train import run_training
    seed_all(0)  # as `main.py train` seeds its process (--seed 0)
    run_training(TrainConfig(coco=train, out=out, weights=weights, all_images=True,
                             iterations=a.iterations, batch_size=2, device=a.device,
                             min_size=a.min_size, max_size=a.max_size, workers=0,
                             val_fraction=a.val_fraction, seed=a.seed, rois_per_image=128,
                             warmup_iters=min(100, a.iterations // 4),
                             model_id=out.stem))


def test_ap(ckpt: Path, test: Path, a) -> float | None:
    from bench.learning import val_ap
    return val_ap(str(ckpt), test, a.device, (a.min_size, a.max_size))["segm"]["AP"]


def predict_pool(ckpt: Path, pool: Dataset, ids: list[int], a) -> dict[int, tuple]:
    """image id -> (predictions shown to the annotator, {method: attention})."""
    import torch
    from model.effort import attention as A
    from model.net.predictor import Predictor
    torch.manual_seed(0)
    p = Predictor(weights=str(ckpt), device=a.device, score_threshold=0.05,
                  min_size=a.min_size, max_size=a.max_size)
    out = {}
    for rec in pool.images:
        if rec.id not in ids:
            continue
        rgb = read_image(pool.image_path(rec))
        preds = p.predict(rgb)
        att = {m: A.attention(preds, m, predictor=p, rgb=rgb) for m in A.METHODS}
        shown = [i for i in preds if (i.score or 0) >= a.score_threshold]
        out[rec.id] = (shown, att)
    return out


def run_strategy(strategy: str, pool: Dataset, test: Path, round0: Round, first: list[int],
                 work: Path, a) -> list[Round]:
    rng = np.random.default_rng(a.seed)
    labelled = list(first)
    rounds, weights = [round0], a.weights
    for r in range(1, a.rounds + 1):
        t = time.perf_counter()
        ckpt = work / f"{strategy}_r{r}.pt"
        train_round(subset(pool, labelled, work / f"{strategy}_r{r}.json"), ckpt, weights, a)
        weights = str(ckpt)
        rest = [rec.id for rec in pool.images if rec.id not in labelled]
        predicted = predict_pool(ckpt, pool, rest, a)
        costs = {i: annotate(pool.image_by_id(i), predicted[i][0]) for i in rest}
        corr = {}
        for m in ("band", "mask", "flip"):
            corr[m] = spearman([predicted[i][1][m] for i in rest],
                               [costs[i][0] / max(costs[i][1], 1) for i in rest])
        if strategy == "order":
            batch = rest[:a.batch]
        elif strategy == "random":
            batch = [int(i) for i in rng.choice(rest, min(a.batch, len(rest)), replace=False)]
        else:
            batch = sorted(rest, key=lambda i: -predicted[i][1][a.attention])[:a.batch]
        labelled += batch
        actions = sum(costs[i][0] for i in batch)
        instances = sum(costs[i][1] for i in batch)
        ap = test_ap(ckpt, test, a)
        rounds.append(Round(strategy, r, len(batch), instances, actions, ap,
                            time.perf_counter() - t, corr))
        print(f"{strategy} round {r}: {actions} actions / {instances} instances, test segm AP "
              f"{ap if ap is None else round(ap, 3)}, spearman {corr} "
              f"({rounds[-1].seconds:.0f} s)", file=sys.stderr)
    return rounds


def actions_to_reach(rounds: list[Round], ap: float | None) -> int | None:
    """Actions spent (from round 0) until the test AP first reaches `ap`."""
    if ap is None:
        return None
    total = 0
    for r in rounds:
        total += r.actions
        if r.ap is not None and r.ap >= ap - 1e-9:
            return total
    return None


# ----------------------------------------------------------------------------- plot
def plot(results: dict[str, list[Round]], path: Path) -> None:
    """Two panels drawn with OpenCV: actions per instance and test segm AP per round."""
    import cv2
    colors = {"order": (200, 80, 40), "random": (60, 160, 60), "uncertainty": (40, 60, 220)}
    W, H, M = 420, 300, 50
    img = np.full((H + 40, 2 * W, 3), 255, np.uint8)
    panels = [("actions per instance", lambda r: r.per_instance),
              ("test segm AP", lambda r: r.ap or 0.0)]
    rounds = max(len(v) for v in results.values())
    for k, (title, get) in enumerate(panels):
        x0 = k * W
        top = max((get(r) for v in results.values() for r in v), default=1.0) * 1.1 or 1.0
        cv2.putText(img, title, (x0 + M, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
        cv2.rectangle(img, (x0 + M, 35), (x0 + W - 15, H - 25), (0, 0, 0), 1)
        for j in range(5):
            v = top * j / 4
            y = int(H - 25 - (H - 60) * j / 4)
            cv2.putText(img, f"{v:.2f}", (x0 + 5, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (0, 0, 0), 1)
        for r in range(rounds):
            x = int(x0 + M + (W - M - 30) * r / max(rounds - 1, 1)) + 5
            cv2.putText(img, str(r), (x - 3, H - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        for name, v in results.items():
            pts = [(int(x0 + M + (W - M - 30) * r.round / max(rounds - 1, 1)) + 5,
                    int(H - 25 - (H - 60) * get(r) / top)) for r in v]
            for p, q in zip(pts, pts[1:]):
                cv2.line(img, p, q, colors.get(name, (0, 0, 0)), 2, cv2.LINE_AA)
            for p in pts:
                cv2.circle(img, p, 3, colors.get(name, (0, 0, 0)), -1)
    for j, name in enumerate(results):
        cv2.putText(img, name, (M + 150 * j, H + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    colors.get(name, (0, 0, 0)), 2)
    cv2.putText(img, "x: round", (2 * W - 90, H + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.imwrite(str(path), img)


# ----------------------------------------------------------------------------- main
def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "nuclei"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--min-size", type=int, default=128)
    ap.add_argument("--max-size", type=int, default=None)
    ap.add_argument("--iterations", type=int, default=40, help="training iterations per round")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--attention", default="mask", help="the uncertainty strategy's score")
    ap.add_argument("--weights", default="none", help="round 1's start point")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--pool", type=int, default=20, help="nuclei: pool crops")
    ap.add_argument("--test", type=int, default=6, help="nuclei: test crops")
    ap.add_argument("--val-fraction", type=float, default=0.01)
    ap.add_argument("--score-threshold", type=float, default=0.5,
                    help="predictions the annotator is shown")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--section", default=None, help="RESULTS.md section (default loop-<data>)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    a = ap.parse_args(argv)
    a.max_size = a.max_size or a.min_size * 2
    return a


def main(argv=None) -> int:
    a = parse(argv)
    if a.threads:  # the entry point decides torch's threads once (the library never does)
        import torch
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pool_json, test_json = split_set(a, work)
        pool = load_dataset(pool_json)
        first = [rec.id for rec in pool.images[:a.batch]]
        acts = [annotate(pool.image_by_id(i), []) for i in first]
        round0 = Round("round 0", 0, len(first), sum(c[1] for c in acts),
                       sum(c[0] for c in acts), None, 0.0)
        results = {s: run_strategy(s, pool, test_json, round0, first, work, a)
                   for s in a.strategies.split(",")}
    data = Path(a.data).name or str(a.data)
    lines = [f"{data}: pool {len(pool.images)} images, test from {test_json.name}; "
             f"{a.rounds} rounds of {a.batch} images, {a.iterations} iterations per round "
             f"at min_size {a.min_size}, from --weights {a.weights}, {a.device}; annotator: "
             f"{annotator_name()}; wall {time.perf_counter() - t0:.0f} s",
             f"round 0 (no model): {round0.actions} actions for {round0.instances} instances "
             f"= {round0.per_instance:.2f} per instance",
             ]
    for s, rs in results.items():  # one bullet per round (write_section writes a list)
        for r in rs[1:]:
            lines.append(f"{s} round {r.round}: {r.images} images, {r.instances} instances, "
                         f"{r.actions} actions = {r.per_instance:.2f} per instance, test segm AP "
                         f"{'-' if r.ap is None else f'{r.ap:.3f}'}")
    for s, rs in results.items():
        last = rs[-1]
        ratio = last.per_instance / round0.per_instance if round0.per_instance else None
        lines.append(f"{s}: round {last.round} actions per instance = "
                     f"{'-' if ratio is None else f'{ratio:.2f}'}x round 0's (target <= 0.3x)")
    if "order" in results:
        target = results["order"][-1].ap
        for s, rs in results.items():
            lines.append(f"{s}: total actions to reach order's round {a.rounds} test segm AP "
                         f"({'-' if target is None else f'{target:.3f}'}): "
                         f"{actions_to_reach(rs, target) or 'not reached'}")
    for m in ("band", "mask", "flip"):
        vals = [r.corr.get(m) for rs in results.values() for r in rs[1:]
                if r.corr.get(m) is not None]
        lines.append(f"attention {m}: mean Spearman vs actions per instance on the unlabelled "
                     f"pool = {np.mean(vals):.3f} over {len(vals)} round(s)" if vals else
                     f"attention {m}: no ranking (constant scores or costs)")
    lines.append(f"plot: bench/{PLOT.name}")
    print("\n".join(lines))
    if not a.no_write:
        plot(results, PLOT)
        write_section(a.section or f"loop-{data}", "bench/loop.py", lines, gpu_label(a.device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
