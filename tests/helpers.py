"""Synthetic masks and COCO files for tests: holes, several parts, crowd regions."""
from __future__ import annotations

import functools
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from model.data import masks as M
from model.net import checkpoint as C
from model.net.archs import ARCH_V1
from model.net.build import build_model

from model.data.synthetic import S, noise_image as write_image, shapes_dataset  # noqa: F401


def disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def ring(h: int, w: int, cx: float, cy: float, r_out: float, r_in: float) -> np.ndarray:
    return disc(h, w, cx, cy, r_out) & ~disc(h, w, cx, cy, r_in)


def two_parts(h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[5:15, 5:20] = True
    m[30:45, 40:55] = True
    return m


def rle_full(mask: np.ndarray) -> dict:
    h, w = mask.shape
    return M.encode_rle(*M.tight_crop(mask), h, w)


def make_coco(tmp: Path, cat_ids=(0, 3, 7), ann_ids=(4, 9, 10, 22, 23), with_images=True) -> Path:
    """A COCO file with holes, multi-part masks, a crowd region, id gaps and extra keys."""
    h, w = 64, 80
    if with_images:
        (tmp / "imgs").mkdir(exist_ok=True)
        write_image(tmp / "imgs" / "a.png", h, w, 1)
        write_image(tmp / "imgs" / "b.png", h, w, 2)
    hole = ring(h, w, 30, 30, 20, 8)
    parts = two_parts(h, w)
    crowd = np.zeros((h, w), bool)
    crowd[50:60, 0:30] = True
    crowd_counts = M.rle_counts_from_crop(*M.tight_crop(crowd), h, w)
    anns = [
        {"id": ann_ids[0], "image_id": 0, "category_id": cat_ids[0], "segmentation": rle_full(hole),
         "area": float(hole.sum()), "bbox": [10.0, 10.0, 41.0, 41.0], "iscrowd": 0,
         "attributes": {"occluded": True}},
        {"id": ann_ids[1], "image_id": 0, "category_id": cat_ids[1],
         "segmentation": [[5, 5, 20, 5, 20, 15, 5, 15], [40, 30, 55, 30, 55, 45, 40, 45]],
         "area": 375.0, "bbox": [5.0, 5.0, 50.0, 40.0], "iscrowd": 0},
        {"id": ann_ids[2], "image_id": 0, "category_id": cat_ids[2],
         "segmentation": {"size": [h, w], "counts": crowd_counts}, "area": float(crowd.sum()),
         "bbox": [0.0, 50.0, 30.0, 10.0], "iscrowd": 1},
        {"id": ann_ids[3], "image_id": 5, "category_id": cat_ids[0], "segmentation": rle_full(parts),
         "area": float(parts.sum()), "bbox": [5.0, 5.0, 50.0, 40.0], "iscrowd": 0,
         "score": 0.75, "source": "model", "review": "accepted", "model": "m1"},
        {"id": ann_ids[4], "image_id": 5, "category_id": cat_ids[1],
         "segmentation": [[60.5, 10.25, 75.0, 10.0, 70.0, 25.5]], "area": 100.0,
         "bbox": [60.5, 10.0, 14.5, 15.5], "iscrowd": 0},
    ]
    data = {
        "info": {"description": "test", "year": 2026},
        "licenses": [{"id": 1, "name": "CC0"}],
        "images": [
            {"id": 0, "file_name": "imgs/a.png", "width": w, "height": h, "license": 1,
             "flickr_url": "x"},
            {"id": 5, "file_name": "imgs/b.png", "width": w, "height": h},
        ],
        "annotations": anns,
        "categories": [
            {"id": cat_ids[0], "name": "ring", "supercategory": "shape", "color": "#ff0000"},
            {"id": cat_ids[1], "name": "box", "supercategory": "shape"},
            {"id": cat_ids[2], "name": "crowd", "keypoints": []},
        ],
        "custom_root": {"k": [1, 2, 3]},
    }
    path = tmp / "coco.json"
    path.write_text(json.dumps(data))
    return path


# ----------------------------------------------------------------- checkpoints

@functools.lru_cache(maxsize=4)
def _architecture(arch: str, num_classes: int) -> dict:
    with torch.device("meta"):  # shapes only: nothing is allocated
        model = build_model(arch, num_classes)
    return {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}


def tiny_state(arch: str = ARCH_V1, num_classes: int = 3) -> dict:
    """A state_dict of the architecture's true shapes (a v1 Mask R-CNN with 2 classes by
    default) in a few bytes: every tensor is one zero seen through stride 0."""
    return {k: torch.zeros((), dtype=dtype).expand(shape)
            for k, (shape, dtype) in _architecture(arch, num_classes).items()}


def write_ckpt(path, **fields):
    """A checkpoint file every loader accepts, a few KB, with `fields` replaced."""
    ck = {"format": C.FORMAT, "arch": "maskrcnn_resnet50_fpn", "num_classes": 3,
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
          "min_size": 800, "max_size": 1333, "model": tiny_state(), "history": [],
          "model_id": "m"}
    ck.update(fields)
    torch.save(ck, path)
    return path


# --------------------------------------------------------------- hostile PNGs

def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def zero_png(w: int, h: int, palette: bool = False, exif: bytes | None = None) -> bytes:
    """A w x h 1-bit PNG of zeros (grey, or a black and white palette), built without a
    w*h buffer: after a full flush, deflate writes the same bytes for the same block of
    zeros, so the stream is one compressed block repeated. `exif` goes in an eXIf chunk
    after the pixels, where Pillow only finds it by decoding them."""
    n = h * (1 + (w + 7) // 8)  # a filter byte per row, then the packed row: all zeros
    block = 1 << 22
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = last.compress(bytes(n % block)) + last.flush()
    stream = b"\x78\xda" + body * (n // block) + tail + struct.pack(">I", ((n % 65521) << 16) | 1)
    head = struct.pack(">IIBBBBB", w, h, 1, 3 if palette else 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", head)
            + (png_chunk(b"PLTE", bytes(3) + b"\xff" * 3) if palette else b"")
            + png_chunk(b"IDAT", stream) + (png_chunk(b"eXIf", exif) if exif else b"")
            + png_chunk(b"IEND", b""))
