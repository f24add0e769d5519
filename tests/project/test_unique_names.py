"""A module's file name says its one job (issue 30): no two modules of model/ and app/
share a file name, so a name in a traceback, a review or a search is one file. The
benchmarks are left out: each is named after what it measures (`python -m bench.train`
measures `main.py train`)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_two_modules_of_the_library_or_the_app_share_a_file_name():
    seen: dict[str, list[str]] = defaultdict(list)
    for top in ("model", "app"):
        for path in (ROOT / top).rglob("*.py"):
            if path.name != "__init__.py":
                seen[path.name].append(str(path.relative_to(ROOT)))
    shared = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not shared, f"file names shared by several modules: {shared}"
