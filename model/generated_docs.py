"""The command-line side of a block of a Markdown file that code writes (the formats
tables from the registry, the shortcut table from the action table): rewrite it, or with
--check only say whether it is stale, so a test and a person run the same rule."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from model.data.atomic import atomic_write_bytes


def rewrite(path: Path, make: Callable[[str], str], *, check: bool, stale: str,
            done: str) -> int:
    """make(old text) -> new text (ValueError: no markers). Exit codes: 0 up to date or
    rewritten, 1 stale under `check`, 2 unreadable or without markers."""
    try:
        old = path.read_text(encoding="utf-8")
        new = make(old)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        print(f"error: {path}: {e}", file=sys.stderr)
        return 2
    if new == old:
        return 0
    if check:
        print(f"error: {path}: {stale}", file=sys.stderr)
        return 1
    atomic_write_bytes(path, new.encode("utf-8"))
    print(f"{path}: {done}")
    return 0
