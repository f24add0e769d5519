"""A folder export written all at once: the files go into a temp folder beside `--out`
(same file system), a manifest naming them is written last, and the temp folder is then
swapped in for `--out` in one rename (Linux: renameat2 RENAME_EXCHANGE; elsewhere two
renames). A reader, or an export killed at any moment, sees the old complete folder or
the new complete one, never a mix; two exports into one folder each write their own
temp folder and the swaps take turns, so the last one wins whole.

Only what MaskLoop wrote is ever removed: `--out` must be missing, empty, or an
earlier export whose manifest lists its files (operating-system litter such as
.DS_Store and Ultralytics' label caches aside). A folder holding anything else is
refused before any work, and nothing in it is touched. Every path written is checked
to resolve inside the temp folder, and to be new in this export, ignoring case (two
outputs of one export on one path would overwrite each other, here or once the folder
is copied to macOS or Windows). The manifest lists a file once it is written whole; a
file that could not be written (an image that is missing) is not in it."""
from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import glob
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterator

from model.errors import ImageReadError, UsageError
from model.data.atomic import TEMP_CHARS, umask
from model.data.images import outside
from model.formats.names import fold, shorten

MANIFEST = ".maskloop-export.json"
PARTIAL = ".maskloop-export-partial"  # in a temp folder until its manifest is written
TEMP_TAG = ".maskloop-"  # temp folders: .<out name>.maskloop-<pid>-<random>
_LITTER = {".DS_Store", "Thumbs.db", "desktop.ini"}  # written by file browsers, not by users


def _relative(rel: PurePosixPath | str) -> PurePosixPath:
    rel = PurePosixPath(rel)
    if rel.is_absolute() or not rel.parts or any(p in ("", ".", "..") for p in rel.parts):
        raise ValueError(f"{rel}: not a plain relative path inside the export")
    return rel


def _walk(folder: Path) -> list[str]:
    """Every file and link below folder, as '/'-separated relative paths; linked folders
    are listed, not entered."""
    out = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        links = [d for d in dirs if (here / d).is_symlink()]
        dirs[:] = [d for d in dirs if d not in links]
        out += [(here / f).relative_to(folder).as_posix() for f in files + links]
    return out


def _manifest(folder: Path) -> set[str] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = data["files"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return {f for f in files if isinstance(f, str)} if isinstance(files, list) else None


def _disposable(rel: str, listed: set[str]) -> bool:
    """Litter nobody wrote on purpose: a file browser's, or the `<labels folder>.cache`
    Ultralytics writes beside label files this export wrote."""
    name = rel.rsplit("/", 1)[-1]
    if name in _LITTER or name.startswith("._") or rel in (MANIFEST, PARTIAL):
        return True
    if rel.endswith(".cache"):
        folder = rel[:-len(".cache")] + "/"
        return any(f.startswith(folder) for f in listed)
    return False


def earlier_export(folder: Path) -> tuple[set[str], list[str]]:
    """(files an earlier export wrote, files nobody said MaskLoop wrote) in folder."""
    if not folder.exists():
        return set(), []
    if not folder.is_dir():
        raise UsageError(f"{folder} is a file; a folder export needs a folder")
    listed = _manifest(folder) or set()
    files = _walk(folder)
    foreign = [f for f in sorted(files) if f not in listed and not _disposable(f, listed)]
    return listed & set(files), foreign


def _refuse_foreign(shown: Path, foreign: list[str]) -> None:
    if foreign:
        names = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise UsageError(f"{shown} holds {len(foreign)} file(s) MaskLoop did not write "
                         f"({names}); an export replaces its whole folder, so choose an "
                         "empty or new folder (nothing was changed)")


def check_folder(out: Path | str) -> None:
    """Refuse, before any work, an `out` a folder export may not replace."""
    _old, foreign = earlier_export(Path(os.path.realpath(out)))
    _refuse_foreign(Path(out), foreign)


def _remove_export(folder: Path, listed: set[str]) -> list[str]:
    """Remove the files an export wrote (and litter), then the folders left empty;
    returns what is left (files that appeared meanwhile). The manifest goes last, so
    that a removal killed halfway leaves a folder still marked as an export's."""
    left = []
    for rel in sorted(_walk(folder), key=lambda r: r == MANIFEST):
        if rel in listed or _disposable(rel, listed):
            (folder / rel).unlink()
        else:
            left.append(rel)
    for root, _dirs, _files in os.walk(folder, topdown=False):  # the deepest first
        with contextlib.suppress(OSError):
            os.rmdir(root)
    return left


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no pid there ever was
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def _turn(folder: Path) -> Iterator[None]:
    """One swap at a time in `folder` (an advisory lock on the folder itself, so no lock
    file is left behind; where there is no flock, no lock)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _new_file(path: Path) -> Iterator[IO[bytes]]:
    """A file that must not exist yet, synced; removed again (it is this export's own)
    if writing it fails, so a half-written file is never left to be listed."""
    f = open(path, "xb")
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class NameClash(UsageError):
    """Two outputs of one export would share a path (exactly, or on a file system that
    ignores case): refused, since one would overwrite the other."""


class FolderExport:
    """`with FolderExport(out, fmt) as folder:` write through folder.write_bytes and
    folder.place_image; on leaving without an error the folder is swapped in whole, on
    an error the temp folder is removed and `out` is as it was."""

    def __init__(self, out: Path | str, fmt: str):
        self.shown = Path(out)
        self.final = Path(os.path.realpath(out))  # a link to a folder: the folder
        self.fmt = fmt
        self.files: list[str] = []  # written whole: the manifest
        self._claimed: dict[str, str] = {}  # every path handed out, folded -> as given
        self._folders: dict[str, str] = {}  # the folders they make, folded -> as given
        self.root: Path | None = None
        self.warnings: list[str] = []
        self.summary: dict = {}
        self.swapped = False

    # ------------------------------------------------------------------ enter
    def __enter__(self) -> "FolderExport":
        if self.final.parent == self.final:
            raise UsageError(f"{self.shown}: cannot export into a file system's root")
        check_folder(self.shown)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self._remove_leftovers()
        prefix = f".{shorten(self.final.name, 100)}{TEMP_TAG}{os.getpid()}-"
        self.root = Path(tempfile.mkdtemp(prefix=prefix, dir=self.final.parent))
        os.chmod(self.root, 0o777 & ~umask())  # mkdtemp makes 0700; the export is a folder
        (self.root / PARTIAL).write_bytes(b"")  # like any other: the umask decides
        return self

    def _remove_leftovers(self) -> None:
        """Temp folders of exports to the same place whose process is gone (killed):
        one marked partial, one without either marker (killed before its marker was
        written, or while an old export's files were being removed: the temp names are
        MaskLoop's own, `.<out>.maskloop-<pid>-<mkdtemp's 8 characters>[-old]`), and
        an old export swapped out (its manifest's files; anything else stays)."""
        if os.name != "posix":
            return
        prefix = f".{shorten(self.final.name, 100)}{TEMP_TAG}"
        ours = re.compile(rf"{re.escape(prefix)}(\d+)-{TEMP_CHARS}(?:-old)?")
        for p in self.final.parent.glob(f"{glob.escape(prefix)}*"):
            match = ours.fullmatch(p.name)
            if not match or _alive(int(match[1])) or p.is_symlink() or not p.is_dir():
                continue
            if (p / MANIFEST).is_file() and not (p / PARTIAL).exists():
                _remove_export(p, _manifest(p) or set())
            else:
                shutil.rmtree(p, ignore_errors=True)

    # ------------------------------------------------------------------ write
    def _claim(self, rel: PurePosixPath) -> None:
        """Hand out `rel` once: refused if this export already gave out that path, a
        folder there, or a file where `rel` needs a folder (case ignored)."""
        key, name = fold(rel), rel.as_posix()
        parents = [p for p in rel.parents if p.parts]
        file = next((fold(p) for p in parents if fold(p) in self._claimed), None)
        if key in self._claimed:
            other = self._claimed[key]
            why = (f"{name} twice" if other == name else
                   f"{other} and {name}, one file where case is ignored (macOS, Windows)")
        elif key in self._folders or file is not None:
            other = self._folders.get(key) or self._claimed[file]
            why = f"{other} both as a file and as a folder (for {name})"
        else:
            why = ""
        if why:
            raise NameClash(f"{self.shown}: two outputs of this export would share a path: "
                            f"{why}; rename one of the images (nothing was written)")
        self._claimed[key] = name
        for p in parents:
            self._folders.setdefault(fold(p), p.as_posix())

    def path(self, rel: PurePosixPath | str) -> Path:
        """Where `rel` goes inside the temp folder (its folder made); refused if it is
        not a plain relative path, would resolve outside, or was handed out before.
        It enters the manifest only once written (self.written)."""
        rel = _relative(rel)
        self._claim(rel)
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if outside(path, self.root):
            raise ValueError(f"{rel}: would be written outside {self.shown}")
        return path

    def written(self, path: Path) -> None:
        self.files.append(path.relative_to(self.root).as_posix())

    def write(self, rel: PurePosixPath | str, write: Callable[[IO[bytes]], None]) -> None:
        """A new file (never over another: two names for one file is a bug), synced."""
        path = self.path(rel)
        with _new_file(path) as f:
            write(f)
        self.written(path)

    def write_bytes(self, rel: PurePosixPath | str, data: bytes) -> None:
        self.write(rel, lambda f: f.write(data))

    def write_json(self, rel: PurePosixPath | str, obj, indent: int | None = None) -> None:
        text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
        self.write_bytes(rel, text.encode("utf-8"))

    def place_image(self, src: Path, rel: PurePosixPath | str) -> None:
        """A hard link where the file system allows (no bytes copied), a copy otherwise.
        A source that cannot be opened is ImageReadError, with nothing left at `rel`
        and nothing listed; a link that fails made nothing, so nothing is removed."""
        try:
            f = open(src, "rb")  # a source that cannot be read: ImageReadError, skipped
        except OSError as e:
            raise ImageReadError(src, e.strerror or str(e)) from None
        with f:
            dst = self.path(rel)
            try:
                os.link(src, dst, follow_symlinks=True)
            except OSError:  # another file system, or no links: a copy (a write error
                with _new_file(dst) as out:  # here, a full disk say, fails the export)
                    shutil.copyfileobj(f, out, 1 << 20)
                shutil.copystat(src, dst)
        self.written(dst)

    # ------------------------------------------------------------------- exit
    def __exit__(self, kind, exc, tb) -> bool:
        if exc is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            return False
        try:
            self._finish()
        except BaseException:
            if not self.swapped:  # after the swap, self.root is the old folder: keep it
                shutil.rmtree(self.root, ignore_errors=True)
            raise
        return False

    def _finish(self) -> None:
        manifest = {"maskloop_export": 1, "format": self.fmt,
                    "written": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                    **self.summary, "files": sorted(self.files)}
        with open(self.root / MANIFEST, "x", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        (self.root / PARTIAL).unlink()
        _fsync(self.root)
        with _turn(self.final.parent):
            old, foreign = earlier_export(self.final)  # again: another export may have won
            _refuse_foreign(self.shown, foreign)
            if not os.path.lexists(self.final):
                os.rename(self.root, self.final)
                self.swapped = True
                _fsync(self.final.parent)
                return
            if not _exchange(self.root, self.final):
                aside = self.root.with_name(self.root.name + "-old")
                os.rename(self.final, aside)
                os.rename(self.root, self.final)
                self.root = aside
            self.swapped = True
            _fsync(self.final.parent)
            left = _remove_export(self.root, old)
        if left:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            kept = self.final.with_name(f"{self.final.name}.not-maskloop-{stamp}")
            os.rename(self.root, kept)
            self.warnings.append(f"{len(left)} file(s) appeared in {self.shown} during the "
                                 f"export; they were moved to {kept}")
