"""Names inside a folder export. A file_name is data from a file (`/tmp/v/photo.png`,
`../x.png`, `frame.001.jpg`, 300 bytes of one word), so every name an export writes is
derived from it, never taken from it: relative, without `..`, empty, hidden or
dot-only parts, without the characters Windows refuses, every part under the 255 bytes
a file system allows, and unique (two images never share a label file or a mask
folder, nor does an image share its path with another image's label file), with the
full stem kept, dots and all (`frame.001.jpg` -> `frame.001.txt`). An image whose name
has no image extension (`frame`, `c.json`) gets the one its bytes say (`frame.png`), since
every reader of a YOLO or mask folder, MaskLoop's included, finds images by extension.
The same dataset always gets the same names."""
from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from model.data.annotations import Dataset
from model.data.images import is_image_file
from model.errors import ImageReadError

MAX_PART_BYTES = 200  # a stem or folder; leaves room for `_2`, `.json` and the like under 255
MAX_SUFFIX_BYTES = 16  # a longer "extension" is kept as part of the stem
_FORBIDDEN = set('/\\:*?"<>|') | {chr(c) for c in range(32)} | {"\x7f"}
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{k}" for p in ("COM", "LPT") for k in range(10)}
_DROPPED = {"", ".", "..", "images"}  # `images` is the format's own folder (Ultralytics)


def shorten(text: str, limit: int = MAX_PART_BYTES) -> str:
    """text if it fits in `limit` UTF-8 bytes, else its start and `~` and a hash of the
    whole: stable, and two long names that share their start stay apart."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    digest = hashlib.sha256(data).hexdigest()[:10]
    head = data[:limit - len(digest) - 1].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def safe_part(text: str) -> str:
    """One path component as a portable file name: forbidden characters become `_`, a
    leading dot (hidden) or a trailing dot or space (dropped by Windows) too."""
    out = "".join("_" if ch in _FORBIDDEN else ch for ch in text)
    stripped = out.lstrip(".")
    out = "_" * (len(out) - len(stripped)) + stripped
    stripped = out.rstrip(". ")
    out = stripped + "_" * (len(out) - len(stripped))
    if not out:
        return "_"
    if out.split(".")[0].upper() in _RESERVED:
        out = "_" + out
    return shorten(out)


@dataclass(frozen=True)
class OutputName:
    """Where one image's files go in an export: `folders/stem + suffix` for the image
    itself, `folders/stem + ext` for its label file, `folders/stem/` for its masks."""
    folders: tuple[str, ...]
    stem: str
    suffix: str  # the image's own extension ('' when it has none)

    @property
    def image(self) -> PurePosixPath:
        return PurePosixPath(*self.folders, self.stem + self.suffix)

    @property
    def key(self) -> PurePosixPath:
        return PurePosixPath(*self.folders, self.stem)

    def file(self, ext: str) -> PurePosixPath:
        """The stem with `ext` appended (never with_suffix: `frame.001` stays whole)."""
        return PurePosixPath(*self.folders, self.stem + ext)

    def __str__(self) -> str:
        return str(self.image)


_MAGIC = ((b"\x89PNG\r\n\x1a\n", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"II*\x00", ".tif"),
          (b"MM\x00*", ".tif"), (b"BM", ".bmp"))


def sniffed_extension(path) -> str:
    """The extension of the image format a file's first bytes name ('' if none of
    IMAGE_EXTENSIONS' formats, or the file cannot be read): 12 bytes, no decoding."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return ""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return next((ext for magic, ext in _MAGIC if head.startswith(magic)), "")


def output_name(file_name: str, sniffed: str = "") -> OutputName:
    """A file_name made safe, not yet unique: an absolute one keeps only its name.
    `sniffed`, the extension the image's bytes name, is given to a name without an
    image extension (the whole name is then the stem: `c.json` -> `c.json.png`)."""
    text = file_name.replace("\\", "/")
    absolute = (PurePosixPath(text).is_absolute() or PureWindowsPath(file_name).drive != "")
    parts = text.split("/")
    name = parts[-1] if parts else ""
    folders = [] if absolute else [p for p in parts[:-1]
                                   if p not in _DROPPED and p.strip(".")]
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem.strip(".") or len(suffix.encode()) >= MAX_SUFFIX_BYTES or \
            any(ch in _FORBIDDEN or ch == " " for ch in suffix) or not suffix or \
            suffix.lower() == "json":  # labelme's JSON goes beside the image: keep them apart
        stem, suffix = name, ""
    else:
        suffix = "." + suffix
    if sniffed and not is_image_file(PurePosixPath("x" + suffix)):
        stem, suffix = name, sniffed
    return OutputName(tuple(safe_part(p) for p in folders), safe_part(stem or "image"), suffix)


def fold(path: PurePosixPath | str) -> str:
    """How a case- and normalisation-insensitive file system (macOS, Windows) sees a
    path: two paths equal here would be one file there."""
    return unicodedata.normalize("NFC", str(path)).casefold()


def _sniffed_of(ds: Dataset, rec) -> str:
    """The extension an image's bytes name, looked up only for a name without an image
    extension (the rare case: nothing is opened for `a.png`)."""
    if is_image_file(PurePosixPath(rec.file_name.replace("\\", "/"))):
        return ""
    try:
        return sniffed_extension(ds.image_path(rec))
    except (ImageReadError, TypeError):  # outside the dataset, or no image root
        return ""


def output_names(ds: Dataset, beside: tuple[str, ...] = ()) -> dict[int, OutputName]:
    """Each image's names inside an export, by image id: its file_name made safe,
    without any `images` folder (Ultralytics finds labels by swapping the last /images/
    for /labels/), and unique, ignoring case: by stem, since labels and masks are named
    by stem (a second a.png beside a.jpg becomes a_2.jpg), and by every file an image
    puts in one folder: its own and `stem + ext` for each ext in `beside` (labelme's
    JSON beside its image, so an image `c.json` never lands on the label file of `c`)."""
    stems: set[str] = set()
    files: set[str] = set()
    out = {}
    for rec in ds.images:
        base = output_name(rec.file_name, _sniffed_of(ds, rec))
        name, k = base, 1
        while True:
            paths = [fold(name.image)] + [fold(name.file(ext)) for ext in beside]
            if fold(name.key) not in stems and not files.intersection(paths):
                break
            k += 1
            name = OutputName(base.folders, shorten(f"{base.stem}_{k}", MAX_PART_BYTES + 8),
                              base.suffix)
        stems.add(fold(name.key))
        files.update(paths)
        out[rec.id] = name
    return out
