"""The program's name and version. The version lives in pyproject.toml only; an
installed MaskLoop reads it from its package metadata."""
from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "maskloop"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a clone run without `pip install`
        import tomllib
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text("utf-8"))["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def program_name(argv0: str | None = None) -> str:
    """`maskloop` when run as the console script, `main.py` when run from a clone, so
    the usage line shows the command the user actually typed."""
    name = Path(argv0 if argv0 is not None else (sys.argv[0] if sys.argv else "")).name
    if name.startswith("maskloop"):
        return "maskloop"
    return "main.py"
