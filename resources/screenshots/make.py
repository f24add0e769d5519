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
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication
    from app.main_window import MainWindow
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        s = QSettings(str(Path(tmp) / "s.ini"), QSettings.IniFormat)
        s.setValue("auto_predict", False)
        win = MainWindow(settings=s, weights=args.weights, device="cpu")
        win.notifier.ask = lambda *a, **k: None
        win.resize(1400, 860)
        win.show()
        loop = QEventLoop()
        win.inference.pixelsReady.connect(lambda *_: loop.quit())
        win.open_path(args.path)
        loop.exec()
        if args.row:
            win.doc.set_row(args.row)
            loop.exec()
        rec = win.doc.current
        listed = win.doc.listed(rec)
        if listed:
            win.doc.select(listed[min(args.select, len(listed) - 1)])
        win.canvas.flush_overlay()
        app.processEvents()
        win.grab().save(args.out)
        win.doc.undo_stack.setClean()
        win.close()
    print(args.out)


if __name__ == "__main__":
    main()
