"""The README's table of export formats, made from the registry, so that it cannot drift
from what `main.py export` writes: `python -m model.formats.format_table README.md`
rewrites it between its two marker lines, and tests/model/test_formats_registry.py fails
when the file differs from what this makes."""
from __future__ import annotations

import sys
from pathlib import Path

from model.formats import registry
from model.formats.export import DEFAULT_FORMAT

BEGIN = "<!-- formats table: python -m model.formats.format_table README.md makes it -->"
END = "<!-- end of formats table -->"


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
                       f"(tests/model/test_formats_registry.py). {words}."]


def update(text: str) -> str:
    """text with the lines between BEGIN and END made anew (indented as BEGIN is)."""
    lines = text.split("\n")
    starts = [k for k, ln in enumerate(lines) if ln.strip() == BEGIN]
    ends = [k for k, ln in enumerate(lines) if ln.strip() == END]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"the text needs one {BEGIN!r} line and one {END!r} line after it")
    start, end = starts[0], ends[0]
    indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
    made = [indent + ln if ln else "" for ln in export_table()]
    return "\n".join(lines[:start + 1] + made + lines[end:])


def main(argv: list[str]) -> int:
    for name in argv or ["README.md"]:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        new = update(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
