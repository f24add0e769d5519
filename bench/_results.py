"""Shared by the bench scripts: rewrite one section of bench/RESULTS.md."""
from __future__ import annotations

import os
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nEach section is rewritten by the script named in its heading.\n"


def gpu_label(device: str) -> str:
    """'NVIDIA H200 (torch 2.11.0+cu130)' for a CUDA device spec, '' otherwise."""
    if not device.startswith("cuda"):
        return ""
    import torch
    return f"{torch.cuda.get_device_name(torch.device(device))} (torch {torch.__version__})"


def _markdown(lines: list[str]) -> str:
    """A bullet per line; lines that start with "|" are table rows, kept as they are
    (a blank line between a list and a table, as Markdown needs)."""
    out, table = [], None
    for line in lines:
        row = line.startswith("|")
        if table is not None and row != table:
            out.append("")
        out.append(line if row else f"- {line}")
        table = row
    return "\n".join(out)


def add_no_write_option(ap) -> None:
    """Every script that records figures can leave RESULTS.md alone: a run on another
    machine, or a try of an option, is not the recorded one."""
    ap.add_argument("--no-write", action="store_true",
                    help="print the figures only; leave bench/RESULTS.md as it is")


def write_section(name: str, script: str, lines: list[str], gpu: str = "",
                  write: bool = True) -> None:
    if not write:
        return
    machine = f"{os.cpu_count()} CPU cores" + (f", {gpu}" if gpu else "")
    body = (f"## {name} ({script})\n\n{time.strftime('%Y-%m-%d')}, {machine}.\n\n"
            + _markdown(lines) + "\n")
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    start = text.find(f"## {name} (")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + body + ("\n" + text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    RESULTS.write_text(text.rstrip("\n") + "\n")
