"""Small synthetic datasets that train and predict in seconds: red discs and green squares
on grey noise. The tests, the benchmarks and an install's smoke check share them, so a
figure measured on them means the same thing everywhere."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from model.data.annotations import Category, Dataset, Instance
from model.data.coco import save_dataset

S = 96  # side of the synthetic training images


def noise_image(path: Path, h: int = 64, w: int = 80, seed: int = 0) -> Path:
    """An RGB image of uniform noise: pixels for a record that needs only to decode."""
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def shapes_dataset(folder: Path, n: int = 6, cat_ids=(5, 9), names=("disc", "square"),
                   seed: int = 0, size: int | None = None) -> Path:
    """Red discs and green squares on grey noise; every image marked done."""
    side = size or S
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ds = Dataset([Category(c, n_) for c, n_ in zip(cat_ids, names)], image_root=folder)
    yy, xx = np.mgrid[:side, :side]
    for k in range(n):
        img = rng.integers(60, 120, (side, side, 3), dtype=np.uint8)
        rec = ds.add_image(f"s{k}.png", side, side)
        for j in range(2):
            cx, cy = (int(v) for v in rng.integers(18, side - 18, 2))
            r = int(rng.integers(8, 14))
            if j == 0:
                m, cat, col = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r, cat_ids[0], (230, 40, 40)
            else:
                m = np.zeros((side, side), bool)
                m[cy - r:cy + r, cx - r:cx + r] = True
                cat, col = cat_ids[1], (40, 230, 40)
            img[m] = col
            ds.add_instance(rec, Instance(cat, m, review="accepted"))
        rec.status = "done"
        cv2.imwrite(str(folder / f"s{k}.png"), img[:, :, ::-1])
    path = folder / "annotations.json"
    save_dataset(ds, path)
    return path
