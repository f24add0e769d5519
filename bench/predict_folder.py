"""Prediction throughput on a folder of real photos: `main.py predict` against a plain
DataLoader loop around torchvision's model, in images/s, on the same device.

The plain loop is what a user writes: a Dataset that opens each image with PIL, a
DataLoader with workers, model(images) per batch, `masks > 0.5`, pycocotools RLE per
mask. Both run the same weights (random, seed 0) at the same sizes and score threshold,
and the script checks that they find the same number of detections.

Usage: python -m bench.predict_folder [--folder ../shared/data/coco_sample]
[--device cpu] [--batch-size 2] [--workers 1] [--min-size 800]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from bench._results import gpu_label, add_no_write_option, write_section  # noqa: E402


def weights_file(tmp: Path, size: int) -> Path:
    import torch
    from model.net.build import build_model
    torch.manual_seed(0)
    path = tmp / "w.pth"
    torch.save(build_model("maskrcnn_resnet50_fpn", 91, size, size).state_dict(), path)
    return path


def plain_route(folder: Path, weights: Path, a) -> tuple[float, int]:
    import numpy as np
    import torch
    from PIL import Image
    from pycocotools import mask as mask_utils
    from torchvision.models.detection import maskrcnn_resnet50_fpn
    from torchvision.transforms.functional import to_tensor
    from model.data.images import list_images

    paths = list_images(folder)

    class Folder(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            return to_tensor(Image.open(paths[i]).convert("RGB"))

    dev = torch.device(a.device)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91,
                                  min_size=a.min_size, max_size=a.max_size,
                                  box_score_thresh=a.score_threshold)
    model.load_state_dict(torch.load(weights, weights_only=True), strict=False)
    model.eval().to(dev)
    loader = torch.utils.data.DataLoader(Folder(), batch_size=a.batch_size,
                                         num_workers=a.workers, collate_fn=list)
    found = 0
    t = time.perf_counter()
    with torch.inference_mode():
        for batch in loader:
            for res in model([im.to(dev) for im in batch]):
                masks = (res["masks"][:, 0] > 0.5).cpu().numpy()
                for m in masks:
                    mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
                found += len(masks)
    return time.perf_counter() - t, found


def maskloop_route(folder: Path, weights: Path, a, out: Path) -> tuple[float, int]:
    import json

    from model.cli.entry import main as cli
    t = time.perf_counter()
    rc = cli(["predict", str(folder), "--out", str(out), "--weights", str(weights),
                    "--device", a.device, "--batch-size", str(a.batch_size),
                    "--min-size", str(a.min_size), "--max-size", str(a.max_size),
                    "--score-threshold", str(a.score_threshold)])
    seconds = time.perf_counter() - t
    if rc != 0:
        sys.exit(f"main.py predict failed ({rc})")
    return seconds, len(json.loads(out.read_text())["annotations"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", default=str(ROOT.parent / "shared" / "data" / "coco_sample"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--min-size", type=int, default=800)
    ap.add_argument("--max-size", type=int, default=1333)
    ap.add_argument("--score-threshold", type=float, default=0.05)
    add_no_write_option(ap)
    a = ap.parse_args()
    folder = Path(a.folder)
    from model.data.images import list_images
    n = len(list_images(folder))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        w = weights_file(tmp, a.min_size)
        plain_route(folder, w, a)  # warm-up: file cache, allocator, one-time init
        t_plain, d_plain = plain_route(folder, w, a)
        t_ours, d_ours = maskloop_route(folder, w, a, tmp / "out.json")
    lines = [f"folder: {folder.name} ({n} photos), {a.device}, batch {a.batch_size}, "
             f"min_size {a.min_size}, score threshold {a.score_threshold}, random weights (seed 0)",
             f"plain DataLoader loop ({a.workers} worker(s)): {n / t_plain:.2f} images/s, "
             f"{d_plain} detections",
             f"main.py predict: {n / t_ours:.2f} images/s, {d_ours} detections (empty masks and "
             f"COCO's unused labels dropped)",
             f"ratio {t_plain / t_ours:.2f}x the plain loop's images/s"]
    print("\n".join(lines))
    write_section("predict-folder-cuda" if a.device.startswith("cuda") else "predict-folder",
                  "bench/predict_folder.py", lines, gpu_label(a.device), write=not a.no_write)


if __name__ == "__main__":
    main()
