"""Make docs/app.md's before/after picture of a brush edit (offscreen). Usage:
    python resources/screenshots/edit_demo.py COCO.json --row 4
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
    ap.add_argument("--row", type=int, default=4)
    ap.add_argument("--out", default=str(Path(__file__).with_name("edit.png")))
    args = ap.parse_args()
    from PySide6.QtGui import QColor, QImage, QPainter
    from bench._window import close, offscreen_window, show
    with tempfile.TemporaryDirectory() as tmp:
        app, win = offscreen_window(Path(tmp), size=(1100, 760))
        show(win, args.path, args.row)
        rec = win.doc.current
        person = next(i for i in rec.instances if win.doc.dataset.category(i.category_id).name == "person")
        win.doc.select(person)
        win.canvas.flush_overlay()
        app.processEvents()
        before = win.canvas.viewport().grab().toImage()
        edit = win.toolbox.drawing
        edit.set_brush_size(22)
        # paint the arm the polygon missed, then erase a strip of background
        x0, y0 = person.offset
        w, h = person.mask.shape[1], person.mask.shape[0]
        edit.begin_stroke(x0 + 0.30 * w, y0 + 0.55 * h, erase=False)
        for k in range(1, 16):
            edit.extend_stroke(x0 + (0.30 - 0.012 * k) * w, y0 + (0.55 + 0.02 * k) * h)
        edit.end_stroke()
        edit.set_brush_size(30)
        edit.begin_stroke(x0 + 0.9 * w, y0 + 0.2 * h, erase=True)
        for k in range(1, 12):
            edit.extend_stroke(x0 + 0.9 * w, y0 + (0.2 + 0.05 * k) * h)
        edit.end_stroke()
        win.canvas.flush_overlay()
        app.processEvents()
        after = win.canvas.viewport().grab().toImage()
        out = QImage(before.width() * 2 + 12, before.height(), QImage.Format_RGB32)
        out.fill(QColor(255, 255, 255))
        p = QPainter(out)
        p.drawImage(0, 0, before)
        p.drawImage(before.width() + 12, 0, after)
        p.end()
        out.save(args.out)
        close(win)
    print(args.out)


if __name__ == "__main__":
    main()
