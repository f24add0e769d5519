"""What a path holds, told from the files by the formats of the registry (registry.py),
and the one opener: every opener (GUI, predict, train, export) goes through `open_any`,
so a format is recognised everywhere or nowhere, and the message names it.

Each format's detect() answers how sure it is. The likeliest formats are asked first; a
SURE answer (a COCO file, a folder's annotations.json, a labelme file, an image) ends the
asking. A folder that holds several annotation formats (each at least LIKELY) is read
as the one covering the most images, a tie going to the surer one (mask files before a
stray labels/*.txt), and the first warning names them all with the `--format-in` that
reads the others. A layout MaskLoop recognises and does not read is refused, naming it,
rather than opened as bare images."""
from __future__ import annotations

from pathlib import Path

from model.data.annotations import Dataset
from model.errors import ImageReadError
from model.formats import registry
from model.formats.confine import Confined
from model.formats.registry import LIKELY, SURE, Format, Source
from model.text import joined


def _asked(src: Source) -> list[Format]:
    """The formats that may hold src, likeliest first: for a folder every format that
    detects, for a file those that take such a file."""
    fmts = [f for f in registry.formats() if f.detect is not None
            and (src.is_dir or (f.takes_file is not None and f.takes_file(src.path)))]
    return sorted(fmts, key=lambda f: (-f.confidence, f.order))


def candidates(src: Source) -> list[tuple[Format, float]]:
    """(format, confidence) of every format that recognises src, in the order asked.
    A format whose most confident answer could neither win nor join a mixed folder's
    vote is not asked (so a YOLO folder's images are not walked for Pascal VOC)."""
    found: list[tuple[Format, float]] = []
    for fmt in _asked(src):
        best = max((c for _f, c in found), default=0.0)
        if fmt.confidence < min(best, LIKELY):
            break
        c = fmt.detect(src)
        if c is None:
            continue
        found.append((fmt, c))
        if c >= SURE:
            break
    return found


def _not_read(src: Source) -> ImageReadError:
    hints = [f.file_hint for f in registry.readers() if f.takes_file is not None and f.file_hint]
    return ImageReadError(src.path, f"not {joined(['a folder'] + hints, 'or')}")


def choose(src: Source, found: list[tuple[Format, float]]) -> tuple[Format, str | None]:
    """(format, note): the surest format found; in a folder holding several annotation
    formats, the one covering the most images, with a note naming them all."""
    if not found:
        raise _not_read(src)
    mixed = sorted(((f, c) for f, c in found if LIKELY <= c < SURE),
                   key=lambda fc: (-fc[1], fc[0].order))
    if not src.is_dir or len(mixed) < 2 or max(c for _f, c in found) >= SURE:
        return max(found, key=lambda fc: (fc[1], -fc[0].order))[0], None
    counts = {f.name: f.coverage(src) if f.coverage is not None else 0 for f, _c in mixed}
    best = max(mixed, key=lambda fc: (counts[fc[0].name], fc[1], -fc[0].order))[0]
    held = ", ".join(f"{f.title} ({counts[f.name]} image(s))" for f, _c in mixed)
    others = " or ".join(f"--format-in {f.name}" for f, _c in mixed if f is not best)
    return best, (f"{src.path} holds several annotation formats: {held}; read as {best.title}, "
                  f"which covers the most images; {others} reads it as that format")


def detect_format(src: Source) -> tuple[Format, str | None]:
    """The format src holds, and the note saying which formats a mixed folder holds."""
    return choose(src, candidates(src))


def detect(path: Path | str, use_saved_annotations: bool = True) -> str:
    """The name of the format a path holds (registry.formats()). A folder holding the
    annotations.json an earlier save wrote is that COCO file (unless
    use_saved_annotations is False)."""
    path = Path(path)
    src = Source(path, use_saved_annotations=use_saved_annotations,
                 box=Confined(path) if path.is_dir() else None)
    return detect_format(src)[0].name


def forced(src: Source, name: str) -> Format:
    """--format-in: the format the user named, for what the path is. A lone file says
    what it is (COCO or labelme JSON, an image): named as one of the formats that take
    such a file, it is read as the format it holds."""
    fmts = {f.name: f for f in registry.readers()}
    if name not in fmts:
        raise ValueError(f"--format-in must be one of {', '.join(fmts)}, got {name!r}")
    fmt = fmts[name]
    if src.is_dir:
        return fmt
    if fmt.takes_file is not None and fmt.takes_file(src.path):
        return detect_format(src)[0]
    raise ValueError(f"{src.path}: --format-in {name} needs a folder")


def open_any(path: Path | str, image_root: Path | str | None = None,
             use_saved_annotations: bool = True, follow_symlinks: bool = False,
             format_in: str | None = None, rectangles_as_boxes: bool = False) -> Dataset:
    """The Dataset a path holds, whatever the format; `ds.source_format` names it.
    format_in names the format instead of telling it from the files (a folder that
    holds several); rectangles_as_boxes makes labelme rectangles boxes without masks
    (predict --from-boxes fills them)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    # what detection looks into inside a folder is confined as the readers' files are
    src = Source(path, Path(image_root) if image_root is not None else None,
                 follow_symlinks, use_saved_annotations, rectangles_as_boxes,
                 box=Confined(path, follow_symlinks) if path.is_dir() else None)
    if format_in is not None:
        fmt, note = forced(src, format_in), None
    else:
        fmt, note = detect_format(src)
    if fmt.read is None:
        raise fmt.refusal(src)
    ds = fmt.read(src)
    ds.source_format = fmt.name
    if src.box is not None and src.box.warnings:
        ds.warnings[:0] = src.box.warnings  # detection's, before the reader's
    if note:
        ds.warnings.insert(0, note)
    ds.follow_symlinks = follow_symlinks
    return ds
