"""Read any supported image file into RGB uint8, or fail with one clear error.

OpenCV decodes (it handles 16-bit colour, palettes and EXIF orientation);
Pillow reads only the header, so an oversized image is refused before a
single pixel is decoded. Pillow's own decompression-bomb guard is left as the
process has it (the entry point raises it to DEFAULT_MAX_PIXELS): reading a
header decodes nothing, so it goes round the guard instead of switching it off.
"""
from __future__ import annotations

import io
import os
import re
import struct
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from model.errors import ImageReadError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
DEFAULT_MAX_PIXELS = 200_000_000  # ~200 MP: 600 MB as RGB, already far past any camera


_ROTATED_ORIENTATIONS = {5, 6, 7, 8}


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def outside(path: Path, root: Path) -> bool:
    """Does `path`, links resolved, lie outside `root` (links resolved too)?"""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return True
    return False


def natural_key(text: str) -> tuple:
    """Sort key that puts image2 before image10, as file browsers do: a run of digits
    counts as one character that sorts by its number, between punctuation and letters
    (so plain.png comes before plain10.png), and case is ignored (the text itself breaks
    ties, so the order is total and the same on every platform)."""
    runs = re.findall(r"[0-9]+|[^0-9]", text.casefold())
    return tuple((48, int(r)) if r[0] in "0123456789" else (ord(r), 0) for r in runs), text


def image_set(paths) -> tuple[Path, list[Path]]:
    """(root, images) for image files chosen one by one (dropped on the window): the
    root is the deepest folder holding them all (their folder when they share one), the
    images are absolute, without duplicates, in natural order of their path below root.
    Links are kept as named: the user chose these files. Raises ValueError when there is
    no common folder (two Windows drives)."""
    unique = list(dict.fromkeys(Path(os.path.abspath(p)) for p in paths))
    if not unique:
        raise ValueError("no image files")
    root = Path(os.path.commonpath([str(p.parent) for p in unique]))
    return root, sorted(unique, key=lambda p: natural_key(p.relative_to(root).as_posix()))


def list_images(folder: Path, follow_symlinks: bool = False,
                refused: list[str] | None = None) -> list[Path]:
    """Every image file below folder, recursive, in natural order of the path below
    folder (img2 before img10, case ignored), skipping hidden folders.

    A symbolic link that leads outside the folder is left out (and named in
    `refused`) unless follow_symlinks: like a '../' file_name, it would open files
    the user never chose. Linked folders are not walked into.
    """
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            p = Path(root) / name
            if not is_image_file(p) or name.startswith("."):
                continue
            if not follow_symlinks and p.is_symlink() and outside(p, folder):
                if refused is not None:
                    refused.append(f"{p}: a symbolic link to a file outside {folder}; not "
                                   "opened (--follow-symlinks opens it)")
                continue
            found.append(p)
    return sorted(found, key=lambda p: natural_key(p.relative_to(folder).as_posix()))


def _open_header(fp, name: str) -> Image.Image:
    """Pillow's format plugins on an open file, as Image.open tries them, without its
    decompression-bomb check: only the header is read, and a size over any limit is
    for the caller to refuse, by number, before a pixel is decoded."""
    prefix = fp.read(16)
    for loader in (Image.preinit, Image.init):
        loader()
        for fmt in list(Image.ID):
            factory, accept = Image.OPEN[fmt]
            fp.seek(0)
            try:
                ok = not accept or accept(prefix)
                if ok and not isinstance(ok, str):  # a str: "not this format, because"
                    return factory(fp, name)
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue
    raise UnidentifiedImageError(f"cannot identify image file {name!r}")


def _png_exif(fp) -> bytes | None:
    """The data of a PNG's eXIf chunk wherever it lies (OpenCV honours one after the
    pixels too), found by walking the chunk headers: nothing is inflated. Pillow's
    getexif() decodes the whole image to reach the chunks after IDAT (a 437 KB PNG of
    60000 x 60000 took 3.5 GB there)."""
    fp.seek(8)
    while True:
        head = fp.read(8)
        if len(head) < 8:
            return None
        length, tag = struct.unpack(">I4s", head)
        if tag == b"eXIf":
            data = fp.read(length)
            return data if len(data) == length else None
        if tag == b"IEND":
            return None
        fp.seek(length + 4, os.SEEK_CUR)  # the data and its CRC


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1 when none) from the header and metadata chunks alone."""
    if im.format == "PNG" and "exif" not in im.info:
        data = _png_exif(im.fp)
        if data is not None:
            im.info["exif"] = b"Exif\x00\x00" + data  # as Pillow's own chunk reader keeps it
        return Image.Image.getexif(im).get(0x0112, 1)  # not PNG's: that one loads pixels
    return im.getexif().get(0x0112, 1)


def _size_of(im: Image.Image, oriented: bool = True) -> tuple[int, int]:
    w, h = im.size
    if not oriented:
        return int(w), int(h)
    try:
        orientation = _orientation(im)
    except Exception:  # broken EXIF: OpenCV ignores it too
        orientation = 1
    if orientation in _ROTATED_ORIENTATIONS:
        w, h = h, w
    return int(w), int(h)


def header_size(data: bytes, name: str = "image") -> tuple[int, int]:
    """(width, height) of an image held in memory (a labelme mask's PNG), from its
    header alone; ImageReadError naming `name` when there is none."""
    try:
        return _size_of(_open_header(io.BytesIO(data), name))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ImageReadError(name, f"not a readable image ({e})") from None


def read_size(path: os.PathLike | str, oriented: bool = True) -> tuple[int, int]:
    """(width, height) as the pixels will be shown, from the header alone (oriented
    False: as stored, EXIF orientation ignored, as a mask or label image is read)."""
    path = Path(path)
    try:
        with open(path, "rb") as fp:
            return _size_of(_open_header(fp, str(path)), oriented)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image file") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        if path.exists() and path.stat().st_size == 0:
            raise ImageReadError(path, "file is empty (0 bytes)") from None
        raise ImageReadError(path, f"not a readable image ({e})") from None


def check_pixels(path: os.PathLike | str, size: tuple[int, int],
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """ImageReadError when a (width, height) is over the pixel limit: said before any
    decoder allocates a byte for it."""
    w, h = size
    if w * h > max_pixels:
        raise ImageReadError(path, f"image is {w}x{h} ({w * h:,} pixels), over the limit of "
                                   f"{max_pixels:,} pixels")


def _check_truncated_jpeg(path: Path, data: np.ndarray) -> None:
    # Older OpenCV builds decode a cut-off JPEG to a half-grey image with a
    # warning only; a JPEG without its end-of-image marker is truncated.
    if data.size >= 2 and data[0] == 0xFF and data[1] == 0xD8:
        tail = data[-4096:].tobytes()
        if b"\xff\xd9" not in tail:
            raise ImageReadError(path, "JPEG file is truncated (no end-of-image marker)")


def _to_uint8(img: np.ndarray) -> np.ndarray:
    """Deep images (16-bit, float) are stretched linearly from their own min to max.

    A 12-bit microscope frame stored in 16 bits would be nearly black if divided
    by 257; the stretch keeps it visible and is deterministic per file.
    """
    if img.dtype == np.uint8:
        return img
    img = img.astype(np.float32)
    finite = np.isfinite(img)
    if not finite.all():
        img = np.where(finite, img, 0.0)
    lo, hi = float(img.min()), float(img.max())
    if hi <= lo:
        return np.zeros(img.shape, dtype=np.uint8)
    out = (img - lo) * (255.0 / (hi - lo))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def read_image(path: os.PathLike | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file to an HxWx3 RGB uint8 array, EXIF orientation applied.

    Grey, grey+alpha, RGBA, palette, 16-bit and float images all come back as
    RGB uint8; alpha is dropped (the colour under it is kept, as Pillow's
    convert("RGB") does). Raises ImageReadError for anything else.
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(path, "file not found")
    if path.is_dir():
        raise ImageReadError(path, "is a folder, not an image file")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "file is empty (0 bytes)")
    try:
        w, h = read_size(path)
    except ImageReadError:
        w = h = None  # Pillow does not know every variant; let OpenCV try
    if w is not None and w * h > max_pixels:
        raise ImageReadError(
            path, f"image is {w}x{h} ({w * h:,} pixels), over the limit of "
            f"{max_pixels:,} pixels (raise the pixel limit to open it)")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageReadError(path, f"cannot read file ({e.strerror or e})") from None
    _check_truncated_jpeg(path, data)
    try:
        img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error as e:
        raise ImageReadError(path, f"decoder error: {str(e).strip().splitlines()[-1]}") from None
    if img is None:
        kind = "corrupt or truncated image" if w is not None else "not an image or corrupt"
        raise ImageReadError(path, f"{kind}: the decoder could not read its pixels")
    if img.shape[0] * img.shape[1] > max_pixels:
        raise ImageReadError(path, f"image is {img.shape[1]}x{img.shape[0]}, over the pixel limit")
    img = _to_uint8(img)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)
