"""The keyboard-shortcut table of docs/app.md, written from the action table
(app/window/action_table.py), so the documented keys are the defaults that work. The table
lives between two marker comments; everything around it is prose and left alone.

    python -m app.window.shortcut_table docs/app.md          # rewrite the table
    python -m app.window.shortcut_table --check docs/app.md  # exit 1 if it is stale

tests/app/window/test_shortcut_docs.py fails when docs/app.md's table differs from the actions.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.generated_docs import rewrite

from .action_table import CLASS_KEYS, FIXED_KEYS, shortcut_rows

BEGIN = ("<!-- shortcut table: written from app/window/action_table.py by "
         "`python -m app.window.shortcut_table docs/app.md`; do not edit by hand -->")
END = "<!-- end of shortcut table -->"


def _keys(keys: list[str]) -> str:
    return " or ".join(f"`{k}`" for k in keys)


def markdown_table() -> str:
    """The table: every action with a default key, in the action table's order, then the
    class keys and the keys no action owns (Tab, the wheel, the polygon's keys)."""
    lines = ["| menu | action | keys |", "| --- | --- | --- |"]
    lines += [f"| {m} | {t} | {k} |" for m, t, k in shortcut_rows(join=_keys)]
    lines += [f"| {m} | {t} | {k} |" for m, t, k in [CLASS_KEYS] + FIXED_KEYS]
    return "\n".join(lines)


def with_table(text: str, name: str | None = "the document") -> str:
    """`text` with the block between the markers replaced by the current table."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{name + ': ' if name else ''}no shortcut table markers "
                         f"({BEGIN!r} ... {END!r})")
    return text[:start] + BEGIN + "\n" + markdown_table() + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m app.window.shortcut_table",
        description="Write the keyboard-shortcut table of a Markdown file (docs/app.md) "
                    "from the action table.")
    ap.add_argument("path", type=Path, help="the Markdown file holding the table's markers")
    ap.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 if the table differs from the actions")
    a = ap.parse_args(argv)
    return rewrite(a.path, lambda old: with_table(old, None), check=a.check,
                   stale="the shortcut table differs from app/window/action_table.py; run "
                         f"python -m app.window.shortcut_table {a.path}",
                   done="shortcut table rewritten")

if __name__ == "__main__":
    sys.exit(main())
