"""docs/formats.md's tables of formats, made from the registry, so that they cannot drift
from what `main.py export` writes and what MaskLoop reads: `python -m
model.formats.format_table docs/formats.md` rewrites each between its two marker lines,
and tests/model/formats/test_registry.py fails when the file differs from what this
makes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.formats import registry
from model.formats.export import DEFAULT_FORMAT
from model.generated_docs import rewrite

DOC = "docs/formats.md"
BEGIN = f"<!-- formats table: python -m model.formats.format_table {DOC} makes it -->"
END = "<!-- end of formats table -->"
BEGIN_READ = f"<!-- formats read: python -m model.formats.format_table {DOC} makes it -->"
END_READ = "<!-- end of formats read -->"


def export_table() -> list[str]:
    """The table of the formats `export` writes, and what each word of `loses` means."""
    rows = ["| `--format` | writes | for | loses | report |", "| --- | --- | --- | --- | --- |"]
    for f in registry.writers():
        also = (["default"] if f.name == DEFAULT_FORMAT else []) + [f"`{a}`" for a in f.aliases]
        name = f"`{f.name}`" + (f" ({'; '.join(also)})" if also else "")
        rows.append(f"| {name} | {f.writes or f.description} | {f.tools} | "
                    f"{', '.join(f.loses) or 'nothing'} | {f.report} |")
    words = "; ".join(f"*{k}*: {v}" for k, v in registry.ASPECTS.items())
    return rows + ["", f"What a format loses is checked by writing and reading back "
                       f"(tests/model/formats/test_registry.py). {words}."]


def _cell(text: str) -> str:
    """Plain text as a Markdown table cell: a | would end the cell, a <name> would be taken
    for HTML."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def read_table() -> list[str]:
    """The table of the formats MaskLoop reads (`--format-in`), what reading each loses,
    and the layouts it recognises and refuses, saying how to convert them."""
    rows = ["| `--format-in` | reads | loses |", "| --- | --- | --- |"]
    for f in registry.readers():
        loses = (", ".join(f.loses) or "nothing") if f.keeps else "(no annotations)"
        rows.append(f"| `{f.name}` | {_cell(f.description)} | {loses} |")
    rows += ["", "*loses*: what writing MaskLoop's export in the format and reading it back "
                 "loses (the words of the export table); for label images, what reading the "
                 "label images of a `masks` export loses."]
    refused = [f.title for f in registry.formats() if f.read is None and f.refusal is not None]
    if refused:
        rows += ["", f"Recognised and refused, with the command that converts them to COCO: "
                     f"{', '.join(refused)}."]
    return rows


TABLES = ((BEGIN, END, export_table), (BEGIN_READ, END_READ, read_table))


def update(text: str) -> str:
    """text with the lines between each table's BEGIN and END made anew (indented as its
    BEGIN is)."""
    for begin, end, table in TABLES:
        text = _update(text, begin, end, table())
    return text


def _update(text: str, begin: str, end_mark: str, table: list[str]) -> str:
    lines = text.split("\n")
    starts = [k for k, ln in enumerate(lines) if ln.strip() == begin]
    ends = [k for k, ln in enumerate(lines) if ln.strip() == end_mark]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"the text needs one {begin!r} line and one {end_mark!r} line after it")
    start, end = starts[0], ends[0]
    indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
    made = [indent + ln if ln else "" for ln in table]
    return "\n".join(lines[:start + 1] + made + lines[end:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m model.formats.format_table",
        description=f"Write the formats tables of a Markdown file ({DOC}) from the registry "
                    "of formats (model/formats/registry.py).")
    ap.add_argument("path", type=Path, nargs="?", default=Path(DOC),
                    help=f"the Markdown file holding the tables' markers (default {DOC})")
    ap.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 if a table differs from the registry")
    a = ap.parse_args(argv)
    return rewrite(a.path, update, check=a.check,
                   stale="the formats tables differ from the registry; run "
                         f"python -m model.formats.format_table {a.path}",
                   done="formats tables rewritten")

if __name__ == "__main__":
    sys.exit(main())
