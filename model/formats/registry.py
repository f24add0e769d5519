"""The one list of dataset formats: what MaskLoop reads, writes and recognises.

Each format is a `Format` entry that its own module registers (the built-in ones are the
modules of model/formats/builtin/, imported on first use). The command line's `--format`
and `--format-in` choices and help, detection (detect.py), the export (export.py), the
app's export dialog, docs/formats.md's tables (format_table.py) and the fidelity
benchmark all read this list, so adding a format is one new module that calls `register`.

A format's `detect(source)` says how sure it is that the path holds it (`SURE`, `STRONG`,
`LIKELY`, `REFUSED`, `FALLBACK`, or None); detection asks the likeliest formats first
(detect.py says how a folder holding several is decided). `keeps` names what survives
a MaskLoop round trip (written, then read back) of the ASPECTS; for a format MaskLoop
only reads, what reading it yields.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from model.data.coco_validate import read_json
from model.formats.confine import Confined

if TYPE_CHECKING:
    from model.data.annotations import Dataset
    from model.formats.export import ExportResult

FILE, FOLDER = "file", "folder"

# detect()'s answers, most certain first
SURE = 1.0  # the files say so (a COCO file, a folder's annotations.json): asked no further
STRONG = 0.6  # files no other format writes (mask PNGs in masks/<image>/, label images)
LIKELY = 0.5  # annotation files of the format's shape (labels/*.txt, JSON with shapes)
REFUSED = 0.3  # another tool's layout MaskLoop recognises and does not read
FALLBACK = 0.1  # nothing else: the images alone

# what a format keeps or loses; docs/formats.md's tables and
# tests/model/formats/test_registry.py
# (a round trip through each writer) use these words
ASPECTS = {
    "masks": "every pixel of a mask that no other object claims, as it was (at --tolerance 0)",
    "holes": "holes in a mask",
    "parts": "an object in several parts, as one object",
    "overlaps": "pixels several objects claim",
    "crowd": "crowd regions (iscrowd)",
    "boxes": "boxes without a mask",
    "scores": "prediction scores",
    "review": "review state (source, review)",
}


@dataclass
class Source:
    """What the user pointed at, and how to read it: every format's detect and read get
    one. `box` confines what a folder's detection and reader open (None for a file, which
    the user named). The parsed JSON of a .json file is kept, so that telling COCO from
    labelme and reading it parse a large file once."""
    path: Path
    image_root: Path | None = None
    follow_symlinks: bool = False
    use_saved_annotations: bool = True  # a folder's annotations.json is its dataset
    rectangles_as_boxes: bool = False  # labelme rectangles: boxes without masks
    box: Confined | None = None
    _json: Any = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    @property
    def is_dir(self) -> bool:
        return self.path.is_dir()

    def json(self) -> Any:
        """The file's JSON, parsed once (CocoFormatError names a file that is not JSON)."""
        if not self._parsed:
            self._json, self._parsed = read_json(self.path), True
        return self._json


@dataclass(frozen=True)
class Format:
    """One format. `read`, `write` or `detect` is None where the format has none; a
    format MaskLoop recognises and does not read has `refusal` instead of `read`."""
    name: str
    title: str  # how messages name it: "YOLO-seg", "per-instance mask PNGs"
    description: str  # one line: the export dialog, --help
    kind: str  # FILE or FOLDER: what is written to `--out`, and what is usually read
    order: int  # where lists show it (lower first); breaks detection's ties too
    aliases: tuple[str, ...] = ()  # older names --format still takes
    takes_file: Callable[[Path], bool] | None = None  # a lone file it may hold, by name
    file_hint: str = ""  # that file, in a sentence: "a COCO .json file", "an image"
    detect: Callable[[Source], float | None] | None = None
    read: Callable[[Source], "Dataset"] | None = None
    write: Callable[["Dataset", Path, float], "ExportResult"] | None = None
    confidence: float = LIKELY  # the most detect() answers: who is asked first
    coverage: Callable[[Source], int] | None = None  # images annotated: a mixed folder's vote
    refusal: Callable[[Source], Exception] | None = None  # why a recognised layout is not read
    keeps: frozenset[str] = frozenset()  # of ASPECTS
    polygons: bool = False  # masks written as polygons: --tolerance simplifies them
    suffix: str = ""  # a file format's file name ending (".json")
    writes: str = ""  # what an export holds, in full (docs/formats.md's table)
    tools: str = ""  # who reads what it writes
    report: str = ""  # what the export reports

    @property
    def loses(self) -> tuple[str, ...]:
        return tuple(a for a in ASPECTS if a not in self.keeps)


_FORMATS: dict[str, Format] = {}
_ALIASES: dict[str, str] = {}
_loaded = False


def register(fmt: Format) -> Format:
    """Add a format; its name and aliases must be new, its keeps ASPECTS' words."""
    taken = [n for n in (fmt.name, *fmt.aliases) if n in _FORMATS or n in _ALIASES]
    if taken:
        raise ValueError(f"format name {taken[0]!r} is taken")
    if fmt.kind not in (FILE, FOLDER):
        raise ValueError(f"{fmt.name}: kind must be {FILE!r} or {FOLDER!r}, got {fmt.kind!r}")
    unknown = sorted(set(fmt.keeps) - set(ASPECTS))
    if unknown:
        raise ValueError(f"{fmt.name}: keeps names no aspect: {', '.join(unknown)}")
    if fmt.detect is not None and fmt.read is None and fmt.refusal is None:
        raise ValueError(f"{fmt.name}: a format that is detected needs read or refusal")
    _FORMATS[fmt.name] = fmt
    _ALIASES.update((a, fmt.name) for a in fmt.aliases)
    return fmt


def unregister(name: str) -> None:
    fmt = _FORMATS.pop(name)
    for alias in fmt.aliases:
        _ALIASES.pop(alias, None)


def _load_builtins() -> None:
    """Import every module of model/formats/builtin/: each registers its format(s)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from model.formats import builtin
    for info in sorted(pkgutil.iter_modules(builtin.__path__), key=lambda m: m.name):
        importlib.import_module(f"{builtin.__name__}.{info.name}")


def formats() -> list[Format]:
    """Every format, in list order."""
    _load_builtins()
    return sorted(_FORMATS.values(), key=lambda f: (f.order, f.name))


def readers() -> list[Format]:
    """The formats MaskLoop reads (`--format-in`'s choices)."""
    return [f for f in formats() if f.read is not None]


def writers() -> list[Format]:
    """The formats MaskLoop writes (`--format`'s choices)."""
    return [f for f in formats() if f.write is not None]


def get(name: str) -> Format:
    """The format called `name` (or an alias of it); KeyError if there is none."""
    _load_builtins()
    return _FORMATS[_ALIASES.get(name, name)]


def writer(name: str) -> Format:
    """The format that writes `name`; ValueError naming the choices if none does."""
    try:
        fmt = get(name)
    except KeyError:
        fmt = None
    if fmt is None or fmt.write is None:
        raise ValueError(f"format must be one of {', '.join(f.name for f in writers())}, "
                         f"got {name!r}")
    return fmt


def title(name: str) -> str:
    """How messages name a format (`ds.source_format`): 'YOLO-seg', 'label images'."""
    try:
        return get(name).title
    except KeyError:
        return name

