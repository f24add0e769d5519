"""One registry of formats (model/formats/registry.py): the command line's choices and
help, detection, the export and docs/formats.md's tables all read it; a format defined here
alone shows up in each; and what each format says it keeps is what a round trip keeps."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

import main
from model.data import masks as M
from model.formats import format_table, registry
from model.formats.detect import detect
from model.formats.registry import FOLDER, Format
from model.formats.sources import open_path
from tests.helpers import disc, make_coco, write_image
from tests.model.formats.rects_format import CSV, RECTS, registered

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def rects():
    with registered() as fmt:
        yield fmt


def _choices(option: str) -> list[str]:
    """The choices of `main.py export`'s option, from a parser built now."""
    sub = next(a for a in main.build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    export = sub.choices["export"]
    return list(next(a for a in export._actions if option in a.option_strings).choices)


def rects_folder(root: Path) -> Path:
    """Two images in the rects format: two rectangles on a.png, one on b.png."""
    root.mkdir(parents=True, exist_ok=True)
    write_image(root / "a.png", 48, 64, 1)
    write_image(root / "b.png", 48, 64, 2)
    (root / CSV).write_text("a.png,4,5,10,8,cell\na.png,20,10,6,6,nucleus\nb.png,0,0,3,4,cell\n")
    return root


# --------------------------------------------------------- a format defined here alone

def test_a_format_defined_in_a_test_is_in_the_cli_detection_and_export(rects, tmp_path, capsys):
    assert "rects" in _choices("--format") and "rects" in _choices("--format-in")
    with pytest.raises(SystemExit):
        main.main(["export", "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert RECTS.description.split(":")[0] in shown
    assert f"rects = {RECTS.description}" in shown  # --format-in says what each input is
    folder = rects_folder(tmp_path / "in")
    assert detect(folder) == "rects"
    ds = open_path(folder)
    assert ds.source_format == "rects" and [len(r.instances) for r in ds.images] == [2, 1]
    mask = ds.images[0].instances[1].full_mask(48, 64)
    assert mask.sum() == 36 and mask[10:16, 20:26].all()
    # the command line reads it (naming it by its title) and writes it, through the registry
    out = tmp_path / "out"
    assert main.main(["export", str(folder), "--out", str(out), "--format", "rects"]) == 0
    said = capsys.readouterr()
    assert "read" in said.err and "as rectangles" in said.err and "(rects): 3" in said.out
    assert (out / CSV).read_text() == (folder / CSV).read_text()
    assert (out / "a.png").read_bytes() == (folder / "a.png").read_bytes()
    coco = make_coco(tmp_path)
    assert main.main(["export", str(coco), "--out", str(tmp_path / "from_coco"),
                      "--format", "rects"]) == 0
    back = open_path(tmp_path / "from_coco")
    assert back.source_format == "rects" and back.num_instances() == 4  # the crowd left out


def test_a_folder_holding_the_new_format_beside_another_is_mixed_as_any(rects, tmp_path):
    folder = rects_folder(tmp_path / "d")
    (folder / "labels").mkdir()
    (folder / "images").mkdir()
    write_image(folder / "images" / "c.png", 48, 64, 3)
    (folder / "labels" / "c.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    ds = open_path(folder)  # rects covers two images, the YOLO labels one
    assert ds.source_format == "rects"
    assert "YOLO-seg (1 image(s))" in ds.warnings[0] and "--format-in yolo-seg" in ds.warnings[0]
    assert open_path(folder, format_in="yolo-seg").source_format == "yolo-seg"


def test_unregistered_it_is_gone_again(tmp_path):
    with registered():
        assert "rects" in _choices("--format")
    assert "rects" not in _choices("--format") and "rects" not in _choices("--format-in")
    assert detect(rects_folder(tmp_path)) == "images"
    with pytest.raises(ValueError, match="format must be one of"):
        registry.writer("rects")


def test_a_taken_name_or_an_unknown_aspect_is_refused():
    with pytest.raises(ValueError, match="taken"):
        registry.register(Format("rle", "x", "x", FOLDER, order=1))  # coco-rle's old name
    with pytest.raises(ValueError, match="no aspect: colour"):
        registry.register(Format("x", "x", "x", FOLDER, order=1, keeps=frozenset({"colour"})))
    with pytest.raises(ValueError, match="read or refusal"):
        registry.register(Format("x", "x", "x", FOLDER, order=1, detect=lambda src: 1.0))
    assert "x" not in [f.name for f in registry.formats()]


# ------------------------------------------------------------ the lists read the registry

def test_the_cli_offers_exactly_the_registry():
    assert _choices("--format") == [n for f in registry.writers() for n in (f.name, *f.aliases)]
    assert _choices("--format-in") == [f.name for f in registry.readers()]
    assert {"cvat-xml", "voc", "cityscapes", "datumaro"}.isdisjoint(_choices("--format-in"))


def test_the_docs_tables_and_lists_are_the_registry():
    formats = (ROOT / format_table.DOC).read_text(encoding="utf-8")
    assert format_table.update(formats) == formats, \
        f"{format_table.DOC}'s formats tables are stale: python -m model.formats.format_table"
    cli = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "[--format " + "|".join(f.name for f in registry.writers()) + "]" in cli
    assert "--format-in " + "|".join(f.name for f in registry.readers()) + "`" in formats


def test_the_table_is_made_from_the_entries():
    with registered():
        rows = format_table.export_table()
    row = next(r for r in rows if r.startswith("| `rects` |"))
    loses = ", ".join(a for a in registry.ASPECTS if a != "overlaps")
    assert row == f"| `rects` | the images and `rects.csv` | the tests | {loses} | rectangles written |"
    assert rows[2].startswith("| `coco-rle` (default; `rle`) |")
    with registered():
        read = format_table.read_table()
    assert f"| `rects` | {RECTS.description} | {loses} |" in read
    assert read[-1].endswith("CVAT XML, Datumaro JSON, Pascal VOC, Cityscapes.")
    assert "| `labels` | label images: labels/&lt;image&gt;.png\\|.tif, " in "\n".join(read)


# ----------------------------------------------------- keeps and loses, by a round trip

H, W = 64, 80


def _features(tmp_path: Path) -> Path:
    """make_coco's file (a hole, a two-part object, a crowd region, a score and a review
    state) with two overlapping discs and a box without a mask added."""
    src = make_coco(tmp_path)
    data = json.loads(src.read_text())
    for k, cx in ((30, 20), (31, 28)):
        m = disc(H, W, cx, 40, 10)
        data["annotations"].append({"id": k, "image_id": 5, "category_id": 0,
                                    "segmentation": M.encode_rle(*M.tight_crop(m), H, W),
                                    "area": float(m.sum()), "bbox": [cx - 10.0, 30.0, 21.0, 21.0],
                                    "iscrowd": 0})
    data["annotations"].append({"id": 32, "image_id": 5, "category_id": 3, "area": 100.0,
                                "bbox": [2.0, 2.0, 10.0, 10.0], "iscrowd": 0})
    src.write_text(json.dumps(data))
    return src


def _instances(ds) -> list[tuple[str, object, np.ndarray | None]]:
    out = []
    for rec in ds.images:
        ds.ensure_size(rec)
        stem = Path(rec.file_name).stem
        out += [(stem, i, None if i.box_only else i.full_mask(rec.height, rec.width))
                for i in rec.instances]
    return out


def _kept(truth, back) -> set[str]:
    """The ASPECTS that `back` (a dataset read back) keeps of `truth` (make_coco's ids:
    4 has a hole, 9 and 22 are in two parts, 10 is crowd, 22 has a score and a review
    state, 30 and 31 overlap, 32 is a box). Masks, holes and parts are judged on the
    pixels no other object of the image claims (9 covers part of 4, 30 and 31 share a
    lens): what happens to the pixels several claim is *overlaps*' question alone."""
    masks = {i.id: (s, m) for s, i, m in truth if m is not None}

    def own(k: int) -> np.ndarray:
        """The pixels of instance k that no other instance of its image claims."""
        stem, m = masks[k]
        others = np.zeros_like(m)
        for j, (s, o) in masks.items():
            if s == stem and j != k:
                others |= o
        return m & ~others

    def best(k: int) -> tuple[float, np.ndarray | None]:
        """The read-back mask on the same image most like k's, and its IoU."""
        stem, m = masks[k]
        got = [((bm & m).sum() / (bm | m).sum(), bm) for s, _i, bm in back
               if s == stem and bm is not None]
        return max(got, key=lambda g: g[0], default=(0.0, None))

    def same_own(k: int) -> bool:
        """k's own pixels come back exactly, and nothing beyond its pixels is added."""
        _iou, bm = best(k)
        stem, m = masks[k]
        return bm is not None and np.array_equal(bm & ~(m & ~own(k)), own(k))

    kept = set()
    if all(same_own(k) for k in (4, 23, 30, 31)):
        kept.add("masks")  # every single-part mask (crowd aside) pixel for pixel
    _iou, like_ring = best(4)
    ring = own(4)
    if like_ring is not None:
        like_ring = like_ring & ~(masks[4][1] & ~ring)  # the pixels 9 claims too aside
    if like_ring is not None and (like_ring & ring).sum() / (like_ring | ring).sum() > 0.95 \
            and not like_ring[30, 30]:  # the ring's hole is at its centre
        kept.add("holes")
    if all(same_own(k) for k in (9, 22)):
        kept.add("parts")
    if all(best(k)[0] > 0.99 for k in (30, 31)):
        kept.add("overlaps")
    flags = [(i.iscrowd, i.box_only, i.score, i.review) for _s, i, _m in back]
    kept |= {a for a, on in (("crowd", any(f[0] for f in flags)),
                             ("boxes", any(f[1] for f in flags)),
                             ("scores", any(f[2] == 0.75 for f in flags)),
                             ("review", any(f[3] == "accepted" for f in flags))) if on}
    return kept


@pytest.mark.parametrize("fmt", [f.name for f in registry.writers()])
def test_what_a_writer_says_it_keeps_is_what_a_round_trip_keeps(tmp_path, fmt):
    f = registry.get(fmt)
    src = _features(tmp_path)
    out = tmp_path / f"out{f.suffix}"
    assert main.main(["export", str(src), "--out", str(out), "--format", fmt]) == 0
    assert _kept(_instances(open_path(src)), _instances(open_path(out))) == set(f.keeps)


def test_what_label_images_keep_is_what_reading_them_gives(tmp_path):
    src = _features(tmp_path)
    out = tmp_path / "out"
    assert main.main(["export", str(src), "--out", str(out), "--format", "masks"]) == 0
    back = open_path(out, format_in="labels")
    assert back.source_format == "labels"
    assert _kept(_instances(open_path(src)), _instances(back)) == set(registry.get("labels").keeps)


def test_the_table_command_checks_and_rewrites_a_stale_file(tmp_path, capsys):
    doc = tmp_path / "formats.md"
    fresh = (ROOT / format_table.DOC).read_text(encoding="utf-8")
    doc.write_text(fresh.replace("| `yolo-seg` | YOLO-seg", "| `yolo-seg` | YOLO", 1),
                   encoding="utf-8")
    assert format_table.main([str(doc), "--check"]) == 1
    assert f"error: {doc}: the formats tables differ from the registry" in capsys.readouterr().err
    assert format_table.main([str(doc)]) == 0 and doc.read_text(encoding="utf-8") == fresh
    assert format_table.main([str(doc), "--check"]) == 0
    (tmp_path / "bare.md").write_text("no markers\n")
    assert format_table.main([str(tmp_path / "bare.md")]) == 2
    assert "needs one '<!-- formats table" in capsys.readouterr().err
