"""`main.py export` in a child process, against hostile input: a file_name or imagePath
that points outside, dotted names, a kill mid-write, a folder --out holding other
files, two exports at once. Every test hashes every file around --out (the input
dataset, a victim folder and a secret beside it) before and after."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from model.formats import registry
from tests.helpers import rle_full, write_image

ROOT = Path(__file__).resolve().parents[3]
# every folder format the registry writes, a new one included
FOLDER_FORMATS = tuple(f.name for f in registry.writers() if f.kind == registry.FOLDER)


def run(*args: str, pre: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    """main.py in a child process; `pre` is Python run first (to patch a function)."""
    code = pre + "\nimport sys, main\nsys.exit(main.main(sys.argv[1:]))\n"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def snapshot(folder: Path, skip: Path | None = None) -> dict[str, str]:
    """SHA-256 of every file below folder (links as their target text), but `skip`."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        if p.is_symlink():
            out[str(p.relative_to(folder))] = "link:" + str(p.readlink())
        elif p.is_file():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[str(p.relative_to(folder))] = "dir"
    return out


def square(i: int) -> np.ndarray:
    m = np.zeros((64, 80), bool)
    m[8 + i:20 + i, 10 + i:30 + i] = True
    return m


def coco(folder: Path, file_names: list[str], name: str = "ann.json",
         category: str = "cell", images: bool = True) -> Path:
    """A COCO file with one square per image; the images are written where they are
    relative and inside `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    imgs, anns = [], []
    for i, fn in enumerate(file_names, 1):
        target = folder / fn
        if images and not Path(fn).is_absolute() and ".." not in Path(fn).parts:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_image(target, 64, 80, seed=i)
        m = square(i)
        imgs.append({"id": i, "file_name": fn, "width": 80, "height": 64})
        anns.append({"id": i, "image_id": i, "category_id": 1, "segmentation": rle_full(m),
                     "area": float(m.sum()), "bbox": [10.0 + i, 8.0 + i, 20.0, 12.0],
                     "iscrowd": 0})
    path = folder / name
    path.write_text(json.dumps({"images": imgs, "annotations": anns,
                                "categories": [{"id": 1, "name": category}]}))
    return path


@pytest.fixture
def place(tmp_path) -> Path:
    """tmp/ with a victim folder (an image and a folder of 'stale masks' beside it) and a
    secret, beside which the tests put their input and output."""
    victim = tmp_path / "victim"
    (victim / "photo").mkdir(parents=True)
    write_image(victim / "photo.png", 64, 80, seed=99)
    (victim / "photo" / "001_cell.png").write_bytes(b"not a mask of this export")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "id_rsa").write_text("-----BEGIN PRIVATE KEY-----\n")
    return tmp_path


def all_bytes(folder: Path) -> set[bytes]:
    return {p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FOLDER_FORMATS + ("coco-rle",))
def test_file_names_that_point_outside_write_nothing_outside_out(place, fmt):
    victim = place / "victim" / "photo.png"
    data = coco(place / "data", ["a.png", str(victim), "../victim/photo.png",
                                 "sub/../../victim/photo.png"])
    out = place / ("out.json" if fmt.startswith("coco") else "out")
    before = snapshot(place, skip=out)
    got = run("export", data, "--out", out, "--format", fmt)
    assert got.returncode == 0, got.stderr
    assert snapshot(place, skip=out) == before  # nothing outside --out changed
    assert str(victim) in got.stderr and "not be opened" in got.stderr  # said, by name
    if fmt.startswith("coco"):
        return
    files = [p for p in out.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(out.resolve()) for p in files)
    assert not any(p.name.startswith(".") for p in files if p.name != ".maskloop-export.json")
    folder, ext = {"yolo-seg": ("labels", ".txt"), "labelme": (".", ".json"),
                   "masks": ("labels", ".png")}[fmt]
    per_image = [p for p in (out / folder).rglob("*" + ext) if not p.name.startswith(".")]
    assert len(per_image) == 4  # every image's annotations are kept, each in its own file
    back = run("export", out, "--out", place / "back.json")
    assert back.returncode == 0, back.stderr
    # only a.png was there to copy (or point to): the others' files say so when read
    assert len(json.loads((place / "back.json").read_text())["annotations"]) == 1


@pytest.mark.slow
def test_a_labelme_image_path_outside_its_folder_is_not_read(place):
    data = place / "data" / "sub"
    data.mkdir(parents=True)
    write_image(data / "good.png", 64, 80, seed=3)
    secret_png = place / "victim" / "photo.png"
    refs = {"good.json": "good.png", "climb.json": "../../outside/id_rsa",
            "abs.json": str(secret_png), "etc.json": "/etc/passwd"}
    for name, ref in refs.items():
        (data / name).write_text(json.dumps({
            "version": "5.5.0", "flags": {}, "imagePath": ref, "imageData": None,
            "imageHeight": 64, "imageWidth": 80,
            "shapes": [{"label": "cell", "points": [[10, 10], [30, 10], [30, 30]],
                        "group_id": None, "shape_type": "polygon", "flags": {}}]}))
    out = place / "y"
    before = snapshot(place, skip=out)
    got = run("export", place / "data", "--out", out, "--format", "yolo-seg")
    assert got.returncode == 0, got.stderr
    assert snapshot(place, skip=out) == before
    assert sorted(p.name for p in (out / "images").rglob("*") if p.is_file()) == ["good.png"]
    leaked = {(place / "outside" / "id_rsa").read_bytes(), secret_png.read_bytes()}
    if Path("/etc/passwd").is_file():
        leaked.add(Path("/etc/passwd").read_bytes())
    assert not leaked & all_bytes(out)
    for name, ref in refs.items():
        if name != "good.json":
            line = next(ln for ln in got.stderr.splitlines() if name in ln)
            assert line.startswith("warning:") and ref in line and "outside" in line
    # an explicit --images DIR allows images in DIR
    allowed = run("export", place / "data", "--out", place / "y2", "--format", "yolo-seg",
                  "--images", place / "victim")
    assert allowed.returncode == 0, allowed.stderr
    assert sorted(p.name for p in (place / "y2" / "images").rglob("*") if p.is_file()) == \
        ["good.png", "photo.png"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FOLDER_FORMATS)
def test_dotted_names_never_merge_and_the_counts_are_the_counts_written(place, fmt):
    names = ["frame.001.jpg", "frame.002.jpg", "frame.003.jpg", "a.b.c.tif", "..dots.png",
             "dots.png", "Frame.001.png"]
    data = coco(place / "data", names)
    out = place / "out"
    got = run("export", data, "--out", out, "--format", fmt)
    assert got.returncode == 0, got.stderr
    said = got.stdout
    assert ("7 instances" in said) or ("7 instance masks" in said), said
    back = run("export", out, "--out", place / "back.json")
    assert back.returncode == 0, back.stderr
    data_back = json.loads((place / "back.json").read_text())
    assert len(data_back["images"]) == 7 and len(data_back["annotations"]) == 7
    stems = {Path(i["file_name"]).name for i in data_back["images"]}
    assert {"frame.001.jpg", "frame.002.jpg", "frame.003.jpg", "a.b.c.tif"} <= stems
    assert not [p for p in out.rglob("*") if p.name.startswith(".")
                and p.name != ".maskloop-export.json"]  # nothing hidden
    if fmt == "yolo-seg":
        labels = sorted(p.name for p in (out / "labels").iterdir())
        assert {"frame.001.txt", "frame.002.txt", "frame.003.txt", "a.b.c.txt"} <= set(labels)
    # the same dataset gets the same names
    again = run("export", data, "--out", place / "again", "--format", fmt)
    assert again.returncode == 0
    assert sorted(snapshot(out)) == sorted(snapshot(place / "again"))


KILL_ON_THIRD = """
import os, signal
import model.formats.yolo as Y
_orig, _n = Y.vertex_polygon, [0]
def _killing(*a, **k):
    _n[0] += 1
    if _n[0] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return _orig(*a, **k)
Y.vertex_polygon = _killing
"""


@pytest.mark.slow
def test_a_killed_export_leaves_the_old_folder_whole(place):
    old = coco(place / "data", [f"im{k}.png" for k in range(6)])
    out = place / "out"
    assert run("export", old, "--out", out, "--format", "yolo-seg").returncode == 0
    old_files = snapshot(out)
    new = coco(place / "data2", [f"im{k}.png" for k in range(6)], category="other")
    (place / "data2" / "ann.json").write_text(
        (place / "data2" / "ann.json").read_text().replace('"image_id": 1', '"image_id": 2'))
    before = snapshot(place, skip=out)
    got = run("export", new, "--out", out, "--format", "yolo-seg", pre=KILL_ON_THIRD)
    assert got.returncode == -9  # killed mid-write
    assert snapshot(out) == old_files  # the old export, whole
    leftovers = set(snapshot(place, skip=out)) - set(before)
    assert all(Path(p).parts[0].startswith(".out.maskloop-") for p in leftovers)
    # the next export finishes and removes what the killed one left
    assert run("export", new, "--out", out, "--format", "yolo-seg").returncode == 0
    assert snapshot(place, skip=out) == before
    assert "other" in (out / "data.yaml").read_text()


@pytest.mark.slow
def test_a_folder_holding_other_files_is_refused_and_left_alone(place):
    data = coco(place / "data", ["a.png", "b.png"])
    out = place / "mine"
    (out / "labels").mkdir(parents=True)
    (out / "labels" / "a.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.2\n")
    (out / "notes.txt").write_text("my notes")
    before = snapshot(place)
    for fmt in FOLDER_FORMATS:
        got = run("export", data, "--out", out, "--format", fmt)
        assert got.returncode == 2
        assert got.stderr.startswith("error:") and "notes.txt" in got.stderr
        assert snapshot(place) == before


@pytest.mark.slow
def test_a_re_export_removes_only_what_the_earlier_one_wrote(place):
    a = coco(place / "a", [f"a{k}.png" for k in range(4)])
    b = coco(place / "b", [f"b{k}.png" for k in range(3)])
    out = place / "out"
    assert run("export", a, "--out", out, "--format", "masks").returncode == 0
    (out / ".DS_Store").write_bytes(b"finder")
    before = snapshot(place, skip=out)
    got = run("export", b, "--out", out, "--format", "masks")
    assert got.returncode == 0, got.stderr
    assert snapshot(place, skip=out) == before
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["b0.png", "b1.png", "b2.png"]
    assert not (out / "masks" / "a0").exists()


@pytest.mark.slow
def test_two_exports_into_one_folder_give_one_whole_export(place):
    a = coco(place / "a", [f"a{k}.png" for k in range(12)])
    b = coco(place / "b", [f"b{k}.png" for k in range(9)])
    out = place / "out"
    code = textwrap.dedent("""
        import subprocess, sys
        procs = [subprocess.Popen([sys.executable, "main.py", "export", src, "--out", sys.argv[3],
                                   "--format", "yolo-seg"]) for src in sys.argv[1:3]]
        sys.exit(max(p.wait() for p in procs))
    """)
    got = subprocess.run([sys.executable, "-c", code, str(a), str(b), str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=240)
    assert got.returncode == 0, got.stderr
    labels = sorted(p.stem for p in (out / "labels").iterdir())
    images = sorted(p.stem for p in (out / "images").iterdir())
    assert labels == images
    assert labels in (sorted(f"a{k}" for k in range(12)), sorted(f"b{k}" for k in range(9)))
    assert not [p for p in place.iterdir() if ".maskloop-" in p.name]
