"""Hostile inputs for the importers (labelme, YOLO, mask PNGs, label images) against the real
CLI, each in a fresh process under an address-space limit, as tests/model/test_hostile_coco.py
does for COCO: a regression that decodes a 110 KB PNG into gigabytes fails here instead of
taking the machine down. A bad file in a folder is skipped with one warning naming it and the
rest is exported (exit 0); a bad file given alone is refused with one error naming it (exit 2).
Nothing ends in a traceback."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.helpers import zero_png
from tests.model.test_hostile_coco import run_cli

HUGE = 30_000  # 900 MP: past the 200 MP limit; as a 1-bit PNG of zeros, about 110 KB


def test_the_zero_png_is_what_it_claims():
    data = zero_png(40, 30, palette=True)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert arr.shape[:2] == (30, 40) and not arr.any()
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (40, 30) and im.mode == "P"
    assert len(zero_png(HUGE, HUGE)) < 200_000


def small_png(path: Path, w: int = 64, h: int = 48) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (w, h), 80).save(path)
    return path


def labelme_file(folder: Path, name: str, mask_png: bytes | None) -> Path:
    small_png(folder / f"{name}.png")
    shapes = [{"label": "cell", "points": [[2, 2], [20, 2], [10, 15]], "shape_type": "polygon"}]
    if mask_png is not None:
        shapes.append({"label": "cell", "points": [[0, 0], [63, 47]], "shape_type": "mask",
                       "mask": base64.b64encode(mask_png).decode()})
    p = folder / f"{name}.json"
    p.write_text(json.dumps({"version": "5.5.0", "shapes": shapes, "imagePath": f"{name}.png",
                             "imageHeight": 48, "imageWidth": 64, "imageData": None}))
    return p


def labelme_folder(tmp: Path) -> tuple[Path, Path]:
    labelme_file(tmp / "lm", "good", None)
    return tmp / "lm", labelme_file(tmp / "lm", "bomb", zero_png(HUGE, HUGE))


def mask_folder(tmp: Path, mask: bytes, layout: str) -> tuple[Path, Path]:
    root = tmp / "m"
    for name in ("a", "b"):
        small_png(root / "images" / f"{name}.png")
    good = np.zeros((48, 64), np.uint8)
    good[5:15, 5:25] = 255
    if layout == "masks":
        (root / "masks" / "a").mkdir(parents=True)
        (root / "masks" / "b").mkdir(parents=True)
        cv2.imwrite(str(root / "masks" / "b" / "1_cell.png"), good)
        bad = root / "masks" / "a" / "1_cell.png"
    else:
        (root / "labels").mkdir(parents=True)
        cv2.imwrite(str(root / "labels" / "b.png"), (good > 0).astype(np.uint8))
        bad = root / "labels" / "a.png"
    bad.write_bytes(mask)
    return root, bad


def huge_image_folder(tmp: Path, layout: str) -> tuple[Path, Path]:
    root = tmp / layout
    (root / "images").mkdir(parents=True)
    small_png(root / "images" / "ok.png")
    bad = root / "images" / "huge.png"
    bad.write_bytes(zero_png(HUGE, HUGE))
    if layout == "yolo":
        (root / "labels").mkdir()
        for name in ("ok", "huge"):
            (root / "labels" / f"{name}.txt").write_text("0 0 0 1 0 1 1 0 1\n")
        (root / "data.yaml").write_text("names: [everything]\n")
    else:
        for name in ("ok", "huge"):
            (root / "masks" / name).mkdir(parents=True)
        cv2.imwrite(str(root / "masks" / "ok" / "1_x.png"), np.full((48, 64), 255, np.uint8))
        (root / "masks" / "huge" / "1_x.png").write_bytes(zero_png(HUGE, HUGE))
    return root, bad


def scattered_labels(tmp: Path) -> tuple[Path, Path]:
    """640x480, 16-bit, ids arange % 65535 + 1: each id's box spans the image."""
    root = tmp / "s"
    small_png(root / "images" / "a.png", 640, 480)
    lab = (np.arange(640 * 480) % 65535 + 1).astype(np.uint16).reshape(480, 640)
    (root / "labels").mkdir()
    cv2.imwrite(str(root / "labels" / "a.png"), lab)
    return root, root / "labels" / "a.png"


def laughing_yaml(tmp: Path) -> tuple[Path, Path]:
    """A data.yaml whose names expand (through aliases) to 10^9 entries."""
    root = tmp / "y"
    small_png(root / "images" / "a.png")
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0 0 1 0 1 1 0 1\n")
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for k in "bcdefghi":
        prev = chr(ord(k) - 1)
        lines.append(f"{k}: &{k} [" + ", ".join([f"*{prev}"] * 10) + "]")
    lines.append("names: *i")
    (root / "data.yaml").write_text("\n".join(lines) + "\n")
    return root, root / "data.yaml"


CASES = {  # name: (build(tmp) -> (input, file the message names), rc, words in that message)
    "labelme mask shape, 30000^2 PNG, in a folder": (
        labelme_folder, 0, ["mask PNG is 30000x30000", "larger than"]),
    "labelme mask shape, 30000^2 PNG, alone": (
        lambda t: (lambda f: (f, f))(labelme_folder(t)[1]), 2, ["mask PNG is 30000x30000"]),
    "masks/ file 30000^2": (
        lambda t: mask_folder(t, zero_png(HUGE, HUGE), "masks"), 0, ["30000x30000", "64x48"]),
    "labels/ file 30000^2": (
        lambda t: mask_folder(t, zero_png(HUGE, HUGE), "labels"), 0, ["30000x30000"]),
    "labels/ palette 60000^2": (
        lambda t: mask_folder(t, zero_png(2 * HUGE, 2 * HUGE, True), "labels"), 0,
        ["60000x60000"]),
    "YOLO image header 30000^2": (
        lambda t: huge_image_folder(t, "yolo"), 0, ["30000x30000", "over the limit"]),
    "mask PNGs image header 30000^2": (
        lambda t: huge_image_folder(t, "masks"), 0, ["30000x30000", "over the limit"]),
    "data.yaml of 10^9 aliased names": (laughing_yaml, 0, ["class names not read"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_import_under_a_memory_limit(name, tmp_path):
    build, rc, words = CASES[name]
    src, bad = build(tmp_path)
    out = tmp_path / "out.json"
    r = run_cli("export", str(src), "--out", str(out))
    assert r.returncode == rc, (name, r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    said = [line for line in r.stderr.splitlines() if str(bad) in line]
    assert len(said) == 1 and all(w in said[0] for w in words), (name, r.stderr[-2000:])
    assert said[0].startswith("error:" if rc else "warning:")
    if rc == 0:
        assert json.loads(out.read_text())["annotations"], name  # the rest was read
    else:
        assert not out.exists()


@pytest.mark.slow
def test_scattered_label_ids_read_and_export_under_a_memory_limit(tmp_path):
    src, _ = scattered_labels(tmp_path)
    out = tmp_path / "out.json"
    r = run_cli("export", str(src), "--out", str(out))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "65535 instance(s)" in r.stderr
    assert len(json.loads(out.read_text())["annotations"]) == 65535


def test_the_library_leaves_pillows_bomb_guard_as_the_process_has_it():
    import subprocess
    import sys
    code = ("import PIL.Image as I; d = I.MAX_IMAGE_PIXELS; import model.data.images, "
            "model.formats.sources, model.formats.mask_pngs, model.formats.labelme; "
            "print(d is not None and I.MAX_IMAGE_PIXELS == d)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "True"
