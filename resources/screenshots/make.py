"""Regenerate the README screenshots (offscreen). Usage:
    python resources/screenshots/make.py COCO.json [--weights W] [--select N] [--out PNG]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--weights", default="none")
    ap.add_argument("--row", type=int, default=0, help="which image to show")
    ap.add_argument("--select", type=int, default=0, help="which instance to select")
    ap.add_argument("--out", default=str(Path(__file__).with_name("main_window.png")))
    args = ap.parse_args()
    from bench._window import close, offscreen_window, show
    with tempfile.TemporaryDirectory() as tmp:
        app, win = offscreen_window(Path(tmp), size=(1400, 860), weights=args.weights,
                                    load_model=True)
        win.notifier.ask = lambda *a, **k: None
        show(win, args.path, args.row)
        rec = win.doc.current
        listed = win.doc.listed(rec)
        if listed:
            win.doc.select(listed[min(args.select, len(listed) - 1)])
        win.canvas.flush_overlay()
        app.processEvents()
        win.grab().save(args.out)
        close(win)
    print(args.out)


if __name__ == "__main__":
    main()
