"""Process-wide settings live in one module (model/process_settings.py) that every entry
point uses: the command line, the app and the benchmarks. gc.freeze is called through one
function there, and the settings it makes are the ones the app relies on."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _calls(name: str) -> list[str]:
    """Where `<module>.<attr>(...)` is called in model/, app/, bench/ and main.py."""
    module, attr = name.split(".")
    found = []
    files = [ROOT / "main.py"] + [p for d in ("model", "app", "bench")
                                  for p in (ROOT / d).rglob("*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            f = getattr(node, "func", None)
            if isinstance(node, ast.Call) and isinstance(f, ast.Attribute) and f.attr == attr \
                    and isinstance(f.value, ast.Name) and f.value.id == module:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_gc_freeze_is_called_in_one_place():
    found = _calls("gc.freeze")
    assert len(found) == 1 and found[0].startswith("model/process_settings.py"), found


def test_the_window_settings_leave_a_core_and_a_short_switch_interval():
    probe = ("import sys, gc, torch; from PIL import Image\n"
             "from model.process_settings import configure_for_window, configure_libraries, "
             "freeze_long_lived\n"
             "configure_libraries(); configure_for_window(); freeze_long_lived()\n"
             "print(torch.get_num_threads(), sys.getswitchinterval(), "
             "Image.MAX_IMAGE_PIXELS, gc.get_freeze_count() > 0)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    threads, interval, pixels, frozen = out.split()
    from model.data.images import DEFAULT_MAX_PIXELS
    assert int(threads) == max(1, (os.cpu_count() or 1) - 1)
    assert float(interval) == 0.001
    assert int(pixels) == DEFAULT_MAX_PIXELS and frozen == "True"
