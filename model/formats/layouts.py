"""Other tools' dataset folders, recognised so that an annotated dataset is never read as
bare images without a word.

COCO inside a folder, as CVAT's "COCO 1.0" export, Datumaro's `coco` format and
MMDetection lay it out: `annotations/instances_<subset>.json`, the images in
`images/<subset>/` (CVAT 2.x, Datumaro), `images/` (older CVAT) or `<subset>/`
(MMDetection). That is read as the COCO file it is, with the folder its file names
resolve in as the image root.

Layouts MaskLoop does not read (CVAT XML, Pascal VOC, Cityscapes, Datumaro's own JSON)
are found here for their formats (model/formats/builtin/), which refuse them in an error
that says how to convert them, or how to read their images alone.
"""
from __future__ import annotations

import itertools
from pathlib import Path

from model.data.annotations import unsafe_file_name
from model.errors import FormatError
from model.formats.confine import Confined

DEFAULT_ANNOTATIONS = "annotations.json"  # the COCO file a save writes into a folder
_PROBE = 16  # file names looked up to tell which folder a COCO file's images are in
_PEEK = 64 << 10  # bytes read of a file to tell what it is


def coco_files(folder: Path, box: Confined) -> list[Path]:
    """The instances files of a folder's COCO layout (annotations/instances_*.json)."""
    ann = Path(folder) / "annotations"
    if not ann.is_dir():
        return []
    return sorted(p for p in ann.iterdir() if p.name.startswith("instances_")
                  and p.suffix.lower() == ".json" and p.is_file() and box.allows(p))


def image_root_candidates(json_path: Path) -> list[Path]:
    """Where the images of annotations/instances_<subset>.json may be, likeliest first;
    empty for a file not so named."""
    json_path = Path(json_path)
    if not (json_path.name.startswith("instances_") and json_path.parent.name == "annotations"):
        return []
    base, subset = json_path.parent.parent, json_path.stem[len("instances_"):]
    return [base / "images" / subset, base / "images", base / subset, base]


def coco_image_root(json_path: Path, data) -> Path | None:
    """The folder in which most of a layout COCO file's first file names exist (the
    JSON's own folder is tried first: where they resolve there, nothing changes), or
    None when no candidate holds any."""
    images = data.get("images") if isinstance(data, dict) else None
    names = [img.get("file_name") for img in itertools.islice(images or [], _PROBE)
             if isinstance(img, dict)]
    names = [n for n in names if isinstance(n, str) and not unsafe_file_name(n)]
    best, found = None, 0
    for root in [Path(json_path).parent] + image_root_candidates(json_path):
        if not root.is_dir():
            continue
        n = sum(1 for name in names if (root / name).is_file())
        if n > found:
            best, found = root, n
    return best


def _peek(path: Path, box: Confined) -> bytes:
    if not path.is_file() or not box.inside(path):
        return b""
    try:
        with open(path, "rb") as f:
            return f.read(_PEEK)
    except OSError:
        return b""


def cvat_xml(folder: Path, box: Confined) -> Path | None:
    """CVAT's XML export: annotations.xml holding <annotations>."""
    xml = Path(folder) / "annotations.xml"
    return xml if b"<annotations" in _peek(xml, box) else None


def datumaro_json(folder: Path, box: Confined) -> Path | None:
    """Datumaro's own format: annotations/*.json with `items` or `dm_format_version`."""
    ann = Path(folder) / "annotations"
    if not ann.is_dir():
        return None
    for p in sorted(ann.glob("*.json"))[:8]:
        head = _peek(p, box)
        if b'"items"' in head or b'"dm_format_version"' in head:
            return p
    return None


def below(folder: Path, name: str, depth: int = 2) -> Path | None:
    """folder/name, or the same one or two folders down (VOCdevkit/VOC2012/...)."""
    level = [Path(folder)]
    for _ in range(depth + 1):
        for d in level:
            if (d / name).is_dir():
                return d / name
        level = [c for d in level for c in sorted(d.iterdir())
                 if c.is_dir() and not c.name.startswith(".")][:64]
    return None


def refusal(folder: Path, where: Path, what: str, datum_format: str) -> FormatError:
    """The FormatError of a layout MaskLoop recognises and does not read (exit 2 on the
    command line), so that an annotated dataset is not opened as images without
    annotations: it names the file or folder that says so, and how to convert it."""
    return FormatError(where, f"a {what} dataset, which MaskLoop does not read; convert it to "
                              f"COCO (datum convert -if {datum_format} -i {folder} -f "
                              "coco_instances -o OUT), or read only its images with --format-in "
                              "images (or by opening its image folder)")


def several_coco_files(folder: Path, files: list[Path]) -> FormatError:
    names = ", ".join(str(p.relative_to(folder)) for p in files)
    return FormatError(folder, f"holds {len(files)} COCO files ({names}); open one of them "
                               "(its images are found in images/<subset>/)")
