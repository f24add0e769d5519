"""Model-assisted drawing: how fast a box becomes a mask, and how good the mask is.

    python -m bench.assist [--checkpoint CKPT] [--train-iterations 300] [--train-device cpu] [--boxes 50]

latency: a 4000x3000 image on the CPU, the image's features cached (as after its first
prediction), 50 boxes; each timed from the box to the overlay repainted in the real
window (offscreen): the model's heads, the undo step, the repaint. The first box of
an image, which also runs the backbone, is reported apart.

quality: mean mask IoU of box -> mask with the ground-truth boxes as prompts, against
the box filled, the inscribed ellipse and GrabCut, in the same run, on
../shared/data/nuclei's held-out crops (the model: a checkpoint `main.py train` made on
the training crops; trained here when none is given) and on ../shared/data/coco_sample
(with the COCO weights where they are in the torch hub cache).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench._results import add_no_write_option, write_section  # noqa: E402

W, H = 4000, 3000


def latency(boxes: int) -> list[str]:
    import torch

    from bench._window import close, offscreen_window, show
    from model.net import assist as A
    from model.data.annotations import Instance
    from model.editing.ops import Edit, InsertOp
    from model.net.predictor import Predictor
    from model.data.synthetic import noise_image
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        img_path = noise_image(Path(tmp) / "big.png", H, W, 1)
        app, win = offscreen_window(Path(tmp))
        show(win, img_path)
        rec, rgb = win.doc.current, win.canvas.rgb
        pred = Predictor(weights="none", device="cpu", min_size=800, max_size=1333)
        rng = np.random.default_rng(0)

        def one(box) -> None:
            bm = A.box_masks(pred, feats, [box])[0]
            inst = Instance(1, bm.mask if bm.mask.size else np.ones((4, 4), bool),
                            bm.offset, source="human")
            win.doc.push(Edit("Box to mask", [InsertOp(rec, inst, len(rec.instances))]))
            app.processEvents()  # the overlay's dirty rectangle is repainted here

        t = time.perf_counter()
        feats = A.compute_features(pred, rgb)
        one((1000.0, 800.0, 1600.0, 1300.0))
        cold = time.perf_counter() - t
        times = []
        for _ in range(boxes):
            x0, y0 = rng.uniform(0, W - 800), rng.uniform(0, H - 600)
            bw, bh = rng.uniform(60, 800), rng.uniform(60, 600)
            t = time.perf_counter()
            one((x0, y0, x0 + bw, y0 + bh))
            times.append(time.perf_counter() - t)
        close(win)
    med = statistics.median(times)
    return [f"latency: {W}x{H} image, CPU ({torch.get_num_threads()} threads), Mask R-CNN at "
            f"min_size 800, features cached: box -> mask -> overlay repainted, median "
            f"**{med * 1000:.0f} ms** (target <= 100), 95th percentile "
            f"{sorted(times)[int(0.95 * (len(times) - 1))] * 1000:.0f} ms over {boxes} boxes; "
            f"the image's first box (backbone included) {cold:.2f} s"]


def ious(pred_mask, truth) -> float:
    from model.data.annotations import Instance
    from model.editing.review import mask_iou
    if pred_mask[0].size == 0:
        return 0.0
    return mask_iou(Instance(1, *pred_mask), truth)


def quality(ds, predictor=None, limit: int | None = None) -> dict[str, float]:
    """Mean IoU per method over every (non-crowd) instance, its tight box as the prompt."""
    from model.net import assist as A
    from model.data.images import read_image
    scores: dict[str, list[float]] = {"box": [], "ellipse": [], "grabcut": []}
    if predictor is not None:
        scores["model"] = []
    n = 0
    for rec in ds.images:
        rgb = read_image(ds.image_path(rec))
        truths = [i for i in rec.instances if not i.iscrowd and i.mask.size]
        boxes = [(float(i.offset[0]), float(i.offset[1]), float(i.offset[0] + i.mask.shape[1]),
                  float(i.offset[1] + i.mask.shape[0])) for i in truths]
        for method in ("box", "ellipse", "grabcut"):
            scores[method] += [ious(A.classical_mask(rgb, b, method), t)
                               for b, t in zip(boxes, truths)]
        if predictor is not None and boxes:
            feats = A.compute_features(predictor, rgb)
            got = A.box_masks(predictor, feats, boxes, [t.category_id for t in truths])
            scores["model"] += [ious((g.mask, g.offset), t) for g, t in zip(got, truths)]
        n += len(truths)
        if limit and n >= limit:
            break
    return {k: float(np.mean(v)) for k, v in scores.items() if v}


def describe(name: str, q: dict[str, float], n: int) -> str:
    parts = ", ".join(f"{k} {v:.3f}" for k, v in q.items())
    line = f"quality on {name} ({n} instances, ground-truth boxes as prompts), mean mask IoU: {parts}"
    if "model" in q:
        best = max(v for k, v in q.items() if k != "model")
        line += f"; the model route {'beats' if q['model'] >= best + 0.1 else 'does not beat'} " \
                f"the best baseline by >= 0.1 (margin {q['model'] - best:+.3f})"
    return line


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boxes", type=int, default=50)
    ap.add_argument("--checkpoint", default=None, help="nuclei: a checkpoint trained on the "
                                                       "training crops (else one is trained)")
    ap.add_argument("--train-iterations", type=int, default=300)
    ap.add_argument("--train-device", default="cpu", help="where the nuclei checkpoint is "
                                                          "trained (cuda: section assist-cuda)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    add_no_write_option(ap)
    args = ap.parse_args()
    from bench.learning import make_crops
    from model.data.coco import load_dataset
    from model.net.predictor import Predictor
    from model.net.weights import fetch_builtin
    lines = latency(args.boxes)
    print(lines[-1], flush=True)
    data = Path(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, val = make_crops(data / "nuclei", tmp, 40, 6)
        ckpt = args.checkpoint
        if ckpt is None:
            ckpt = str(tmp / "nuclei.pt")
            t = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "main.py"), "train", str(train), "--out",
                            ckpt, "--weights", "none", "--device", args.train_device, "--iterations",
                            str(args.train_iterations), "--min-size", "256", "--max-size",
                            "256", "--val-fraction", "0", "--all-images",
                            "--rois-per-image", "128"], check=True, capture_output=True)
            trained = f"trained here: {args.train_iterations} iterations from random weights " \
                      f"in {(time.perf_counter() - t) / 60:.1f} min on {args.train_device}"
        else:
            trained = f"checkpoint {Path(ckpt).name}"
        pred = Predictor(weights=ckpt, device="cpu", min_size=256, max_size=256)
        vds = load_dataset(val)
        q = quality(vds, pred)
        lines.append(describe(f"nuclei held-out crops ({trained})", q,
                              sum(len(r.instances) for r in vds.images)))
        print(lines[-1], flush=True)
    coco = load_dataset(data / "coco_sample" / "instances.json")
    try:
        fetch_builtin("coco", False, None, None)
        cpred = Predictor(weights="coco", device="cpu")
        note = "COCO weights"
    except Exception:
        cpred, note = None, "no COCO weights on this machine: baselines only"
    q = quality(coco, cpred)
    lines.append(describe(f"coco_sample ({note})", q,
                          sum(1 for _r, i in coco.instances() if not i.iscrowd)))
    print(lines[-1], flush=True)
    if not args.no_write:
        write_section("assist-cuda" if args.train_device.startswith("cuda") else "assist",
                      "bench/assist.py", lines)


if __name__ == "__main__":
    main()
