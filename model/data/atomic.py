"""Crash-safe file writes: a reader sees the old file or the new one, never half of each."""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, IO

PROCESS_START = time.time()
TEMP_CHARS = "[a-z0-9_]+"  # what mkstemp puts between our prefix and suffix


def remove_stale_temps(path: Path, names: str | None = None) -> list[Path]:
    """Temp files a killed save of `path` left behind (older than this process: no save
    of ours is writing them). `names`, a regex, widens it to the saves of every file of
    path's folder whose name it matches."""
    path = Path(path)
    pattern = re.compile(rf"\.(?:{names or re.escape(path.name)})\.{TEMP_CHARS}\.tmp")
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for tmp in entries:
        if not pattern.fullmatch(tmp.name):
            continue
        try:
            if tmp.stat().st_mtime < PROCESS_START:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass
    return removed


def umask() -> int:
    """The process's umask (read by setting it and back: there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: os.PathLike | str, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temp file in the same folder, fsync it, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes 0600; a saved file gets the usual mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: os.PathLike | str, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: os.PathLike | str, obj: Any, indent: int | None = None) -> None:
    text = json.dumps(obj, indent=indent, separators=None if indent else (",", ":"),
                      ensure_ascii=False, allow_nan=False)
    atomic_write_bytes(path, text.encode("utf-8"))
