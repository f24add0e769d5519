"""A folder export never loses a file (issue 28, items 14, 21-23, 29): the manifest lists
exactly what the export wrote, two outputs never share a path, an image is never linked
or copied over a file, stale temp folders go and new folders get the usual mode, an
export none of whose images can be read writes nothing, an image over the pixel limit is
skipped the same way by every format, and an image without an image extension is
written with one, so that it reads back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import main
import model.formats.folder as folder_mod
from model.data import masks as M
from model.formats import registry
from model.formats.folder import MANIFEST, PARTIAL, FolderExport, NameClash
from model.formats.sources import open_path
from tests.helpers import rle_full
from tests.model.formats.test_export_confinement import coco, snapshot, square

# every folder format the registry writes, a new one included
FOLDER_FORMATS = tuple(f.name for f in registry.writers() if f.kind == registry.FOLDER)


def files_on_disk(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*")
            if p.is_file() and p.name != MANIFEST}


def manifest(out: Path) -> list[str]:
    return json.loads((out / MANIFEST).read_text())["files"]


def export(*args) -> int:
    return main.main(["export", *map(str, args)])


# ---------------------------------------------------------------- item 21: manifest

@pytest.mark.parametrize("fmt", FOLDER_FORMATS)
def test_the_manifest_lists_only_what_was_written_and_a_users_file_is_never_deleted(
        tmp_path, capsys, fmt):
    data = coco(tmp_path / "data", ["a.png", "b.png"])
    (tmp_path / "data" / "b.png").unlink()  # sizes given in the file, the image gone
    out = tmp_path / "o"
    assert export(data, "--out", out, "--format", fmt) == 0
    err = capsys.readouterr().err
    assert "warning: b.png: image not copied" in err
    listed = manifest(out)
    assert len(listed) == len(set(listed))
    assert set(listed) == files_on_disk(out)  # exactly what was written
    b_image = "b.png" if fmt == "labelme" else "images/b.png"
    assert b_image not in listed
    mine = out / b_image
    mine.write_bytes(b"my own file, put here after the export")
    before = snapshot(tmp_path)
    assert export(data, "--out", out, "--format", fmt) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and b_image in err and "did not write" in err
    assert snapshot(tmp_path) == before  # the user's file, and everything else, kept


# ---------------------------------------------------- item 22: collisions in one export

def png_without_extension(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(path, "PNG")


def c_and_c_json(root: Path) -> Path:
    """Images `c` and `c.json` (both PNGs, neither with an image extension), one square
    each, in a COCO file."""
    root.mkdir(parents=True)
    imgs, anns = [], []
    for i, name in enumerate(["c", "c.json"], 1):
        png_without_extension(root / name, i)
        m = square(4 * i)
        imgs.append({"id": i, "file_name": name, "width": 80, "height": 64})
        anns.append({"id": i, "image_id": i, "category_id": 1, "segmentation": rle_full(m),
                     "area": float(m.sum()), "bbox": [0.0, 0.0, 1.0, 1.0], "iscrowd": 0})
    path = root / "ann.json"
    path.write_text(json.dumps({"images": imgs, "annotations": anns,
                                "categories": [{"id": 1, "name": "cell"}]}))
    return path


@pytest.mark.parametrize("fmt", FOLDER_FORMATS)
def test_images_c_and_c_json_each_keep_their_files_and_read_back(tmp_path, capsys, fmt):
    data = c_and_c_json(tmp_path / "data")
    out = tmp_path / "o"
    assert export(data, "--out", out, "--format", fmt) == 0
    listed = manifest(out)
    assert len(listed) == len(set(listed)) and set(listed) == files_on_disk(out)
    if fmt == "labelme":
        assert {"c.png", "c.json", "c.json.png", "c.json.json"} <= set(listed)
        label = json.loads((out / "c.json").read_text())  # the label file, not an image
        assert label["imagePath"] == "c.png" and len(label["shapes"]) == 1
    else:
        assert {"images/c.png", "images/c.json.png"} <= set(listed)
    for name in ("c.png", "c.json.png"):  # the images, byte for byte
        src = tmp_path / "data" / name.removesuffix(".png")
        placed = out / name if fmt == "labelme" else out / "images" / name
        assert placed.read_bytes() == src.read_bytes()
    capsys.readouterr()
    back = open_path(str(out), None)
    assert not back.warnings
    got = {Path(r.file_name).name: r for r in back.images}
    assert sorted(got) == ["c.json.png", "c.png"]  # both images come back
    for name, shift in (("c.png", 4), ("c.json.png", 8)):
        (inst,) = got[name].instances
        full = M.paste(inst.mask, inst.offset, 64, 80)
        want = square(shift)
        inter = (full & want).sum()
        assert inter / (full | want).sum() > 0.9  # its own square, not the other's


def test_an_image_whose_format_names_no_extension_is_said_to_be_unfindable(tmp_path, capsys):
    root = tmp_path / "data"
    root.mkdir()
    Image.new("RGB", (80, 64)).save(root / "anim", "GIF")  # no extension, not one of ours
    m = square(1)
    (root / "ann.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "anim", "width": 80, "height": 64}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                         "segmentation": rle_full(m), "area": float(m.sum()),
                         "bbox": [0.0, 0.0, 1.0, 1.0]}],
        "categories": [{"id": 1, "name": "cell"}]}))
    assert export(root / "ann.json", "--out", tmp_path / "o", "--format", "yolo-seg") == 0
    err = capsys.readouterr().err
    assert ("warning: anim: copied as images/anim, without an image extension, so readers of "
            "this folder (MaskLoop's too) will not find it") in err


def test_two_outputs_on_one_path_are_refused_and_nothing_is_deleted(tmp_path):
    src = tmp_path / "photo.png"
    png_without_extension(src, 1)
    out = tmp_path / "o"
    clashes = [("x.json", "x.json"), ("a/B.txt", "a/b.txt"), ("a", "a/b.txt"),
               ("a/b.txt", "A"), ("É.txt", "é.txt")]
    for first, second in clashes:
        with pytest.raises(NameClash, match="would share a path"):
            with FolderExport(out, "test") as folder:
                folder.write_bytes(first, b"label")
                folder.place_image(src, second)
        assert not out.exists() and src.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]  # no temp left


@pytest.mark.parametrize("fmt", FOLDER_FORMATS)
def test_an_image_named_like_another_images_folder_is_refused_whole(tmp_path, capsys, fmt):
    # a file, and a folder of the same name where case is ignored (macOS, Windows)
    data = coco(tmp_path / "data", ["a.png", "A.png/b.png"])
    out = tmp_path / "o"
    before = snapshot(tmp_path)
    assert export(data, "--out", out, "--format", fmt) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "would share a path: " in err
    assert "both as a file and as a folder" in err and "nothing was written" in err
    assert snapshot(tmp_path) == before


def test_a_hard_link_that_fails_falls_back_to_a_copy_and_removes_nothing(tmp_path,
                                                                         monkeypatch):
    src = tmp_path / "photo.png"
    png_without_extension(src, 1)

    def no_link(*a, **k):
        raise OSError(18, "Invalid cross-device link")
    monkeypatch.setattr(folder_mod.os, "link", no_link)
    with FolderExport(tmp_path / "o", "test") as folder:
        folder.write_bytes("labels/photo.txt", b"0 0 0 1 0 1 1\n")
        folder.place_image(src, "images/photo.png")
    assert (tmp_path / "o" / "images" / "photo.png").read_bytes() == src.read_bytes()
    assert (tmp_path / "o" / "labels" / "photo.txt").read_bytes() == b"0 0 0 1 0 1 1\n"
    assert sorted(manifest(tmp_path / "o")) == ["images/photo.png", "labels/photo.txt"]


# ------------------------------------------------------ item 23: temp folders, mode

def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temp_folders_are_removed_and_others_are_left(tmp_path):
    data = coco(tmp_path / "data", ["a.png"])
    pid = dead_pid()
    stale = {f".o.maskloop-{pid}-abcd1234": {},  # killed before its marker
             f".o.maskloop-{pid}-efgh5678": {"images/a.png": b"x", "labels/a.txt": b"0"},
             f".o.maskloop-{pid}-ijkl9012": {PARTIAL: b"", "labels/a.txt": b"0"},
             f".o.maskloop-{pid}-mnop3456-old": {MANIFEST: json.dumps(
                 {"files": ["labels/a.txt"]}).encode(), "labels/a.txt": b"0"}}
    kept = {f".o.maskloop-{os.getpid()}-qrst7890": {PARTIAL: b""},  # a live process's
            ".o.maskloop-notes": {"mine.txt": b"not a temp folder of ours"},
            f".other.maskloop-{pid}-uvwx1234": {PARTIAL: b""}}  # another --out's
    for name, files in {**stale, **kept}.items():
        (tmp_path / name).mkdir()
        for rel, data_ in files.items():
            (tmp_path / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / rel).write_bytes(data_)
    before = snapshot(tmp_path)
    assert export(data, "--out", tmp_path / "o", "--format", "yolo-seg") == 0
    left = sorted(p.name for p in tmp_path.iterdir() if ".maskloop-" in p.name)
    assert left == sorted(kept)
    assert {k: v for k, v in snapshot(tmp_path).items()
            if any(k.startswith(n) for n in kept)} == \
        {k: v for k, v in before.items() if any(k.startswith(n) for n in kept)}


KILL_MID_REMOVAL = """
import os, signal
import model.formats.folder as F
_orig = F._remove_export
def _killing(folder, listed):
    n = [0]
    real = type(folder).unlink
    def unlink(self, *a, **k):
        n[0] += 1
        if n[0] == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, *a, **k)
    type(folder).unlink = unlink
    return _orig(folder, listed)
F._remove_export = _killing
"""


@pytest.mark.slow
def test_an_export_killed_while_removing_the_old_one_leaves_nothing_after_the_next(tmp_path):
    from tests.model.formats.test_export_confinement import run
    data = coco(tmp_path / "data", [f"im{k}.png" for k in range(4)])
    out = tmp_path / "o"
    assert run("export", data, "--out", out, "--format", "yolo-seg").returncode == 0
    got = run("export", data, "--out", out, "--format", "yolo-seg", pre=KILL_MID_REMOVAL)
    assert got.returncode == -9
    (left,) = [p for p in tmp_path.iterdir() if ".maskloop-" in p.name]
    assert (left / MANIFEST).is_file()  # the manifest goes last: still marked
    assert run("export", data, "--out", out, "--format", "yolo-seg").returncode == 0
    assert not [p for p in tmp_path.iterdir() if ".maskloop-" in p.name]


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_a_new_export_folder_gets_the_mode_the_umask_gives(tmp_path, mask):
    data = coco(tmp_path / "data", ["a.png"])
    old = os.umask(mask)
    try:
        assert export(data, "--out", tmp_path / "o", "--format", "labelme") == 0
    finally:
        os.umask(old)
    assert (tmp_path / "o").stat().st_mode & 0o777 == 0o777 & ~mask
    assert (tmp_path / "o" / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask


# ------------------------------------------------------- item 14: no image readable

@pytest.mark.parametrize("fmt", FOLDER_FORMATS)
def test_a_coco_file_away_from_its_images_is_a_failure_that_writes_nothing(tmp_path, capsys,
                                                                           fmt):
    data = coco(tmp_path / "data", [f"im{k}.png" for k in range(16)])
    moved = tmp_path / "elsewhere" / "ann.json"
    moved.parent.mkdir()
    data.rename(moved)
    out = tmp_path / "o"
    before = snapshot(tmp_path)
    assert export(moved, "--out", out, "--format", fmt) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no image could be read, so nothing was written")
    assert "im0.png" in err[-1] and "and 15 more" in err[-1]
    assert snapshot(tmp_path) == before  # no folder, no temp folder


# ------------------------------------------------------- item 29: over the pixel limit

def header_only_png(path: Path, w: int, h: int) -> None:
    """A PNG whose header says w x h: enough for every size check, never decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + (zlib.crc32(kind + data) & 0xFFFFFFFF).to_bytes(4, "big"))
    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt", FOLDER_FORMATS + ("coco-rle", "coco-polygon"))
def test_an_image_over_the_pixel_limit_is_skipped_by_name_in_every_format(tmp_path, capsys,
                                                                          fmt):
    src = tmp_path / "in"
    src.mkdir()
    header_only_png(src / "huge.png", 20000, 15000)
    png_without_extension(src / "small.png", 1)
    out = tmp_path / ("o.json" if fmt.startswith("coco") else "o")
    assert export(src, "--out", out, "--format", fmt) == 0
    cap = capsys.readouterr()
    warned = [ln for ln in cap.err.splitlines() if "huge.png" in ln]
    assert warned == ["warning: huge.png: skipped, the image is 20000x15000 (300,000,000 "
                      "pixels), over the limit of 200,000,000 pixels"]
    assert "skipped 1 image(s)" in cap.out
    if fmt.startswith("coco"):
        assert [i["file_name"] for i in json.loads(out.read_text())["images"]] == ["small.png"]
    else:
        assert not [f for f in manifest(out) if "huge" in f]
