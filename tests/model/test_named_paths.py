"""Every source path a comment or docstring names (model/editing/ops.py, app/gui.py)
exists: after a file moves, a comment pointing at its old place sends a reader nowhere."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMED = re.compile(r"(?<![\w./])((?:model|app|bench|tests|resources)/[\w/]+\.py)\b")


def test_every_named_source_path_exists():
    missing = []
    for folder in ("model", "app", "bench", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                missing += [f"{path.relative_to(ROOT)}:{n}: {m}" for m in NAMED.findall(line)
                            if not (ROOT / m).exists()]
    for path in [ROOT / "README.md", *ROOT.glob("*/README.md"), *(ROOT / "docs").glob("*.md")]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            missing += [f"{path.relative_to(ROOT)}:{n}: {m}" for m in NAMED.findall(line)
                        if not (ROOT / m).exists()]
    assert missing == []
