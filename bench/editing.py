"""Benchmark: brush latency and undo/redo on a 12 MP image with 100 instances.

Measures, in the real window (offscreen):
  - each brush mouse-move event until the overlay is repainted (the stroke's
    rectangle is recomposited and only that region repainted); target < 16 ms;
  - the same repaint done the naive way, a full-overlay recomposite, for the ratio;
  - undo and redo of one large stroke, and the bytes that step keeps.

Usage: QT_QPA_PLATFORM=offscreen python -m bench.editing [--moves 200]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
from bench._results import add_no_write_option, write_section  # noqa: E402

W, H = 4000, 3000


def make_dataset(folder: Path) -> Path:
    import cv2
    import numpy as np
    from model.data.annotations import Category, Dataset, Instance
    from model.data.coco import save_dataset
    from model.data.images import read_image
    cv2.imwrite(str(folder / "big.jpg"),
                cv2.cvtColor(cv2.resize(read_image(ROOT / "resources/demo/coffee.png"), (W, H)),
                             cv2.COLOR_RGB2BGR))
    rng = np.random.default_rng(0)
    ds = Dataset([Category(1, "blob")], image_root=folder)
    rec = ds.add_image("big.jpg", W, H)
    for _ in range(100):
        rx, ry = int(rng.integers(40, 350)), int(rng.integers(40, 350))
        yy, xx = np.mgrid[-ry:ry + 1, -rx:rx + 1]
        m = (xx / rx) ** 2 + (yy / ry) ** 2 <= 1
        ds.add_instance(rec, Instance(1, m, (int(rng.integers(0, W - 2 * rx)),
                                             int(rng.integers(0, H - 2 * ry)))))
    path = folder / "annotations.json"
    save_dataset(ds, path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moves", type=int, default=200)
    add_no_write_option(ap)
    args = ap.parse_args()
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from bench._window import close, offscreen_window, show

    with tempfile.TemporaryDirectory() as tmp:
        coco = make_dataset(Path(tmp))
        app, win = offscreen_window(Path(tmp))
        show(win, coco)
        app.processEvents()
        view, vp = win.canvas, win.canvas.viewport()
        view.set_zoom(0.5)  # a working zoom: the stroke region is a few hundred screen pixels
        rec = win.doc.current
        target = max(rec.instances, key=lambda i: i.mask.size)
        win.doc.select(target)
        view.centerOn(target.offset[0] + target.mask.shape[1] / 2,
                      target.offset[1] + target.mask.shape[0] / 2)
        win.toolbox.use_tool("actionBrush")
        win.toolbox.drawing.set_brush_size(40)
        app.processEvents()

        def send(kind, scene, button, buttons):
            local = view.mapFromScene(QPointF(*scene))
            QApplication.sendEvent(vp, QMouseEvent(kind, QPointF(local), QPointF(vp.mapToGlobal(local)),
                                                   button, buttons, Qt.NoModifier))

        cx, cy = target.offset[0] + target.mask.shape[1] / 2, target.offset[1] + target.mask.shape[0] / 2
        send(QEvent.MouseButtonPress, (cx, cy), Qt.LeftButton, Qt.LeftButton)
        app.processEvents()
        moves = []
        for k in range(1, args.moves + 1):
            p = (cx + 300 * __import__("math").sin(k / 15), cy + 2 * k - args.moves)
            t = time.perf_counter()
            send(QEvent.MouseMove, p, Qt.NoButton, Qt.LeftButton)
            app.processEvents()  # the repaint of the dirty region happens here
            moves.append(time.perf_counter() - t)
        t = time.perf_counter()
        send(QEvent.MouseButtonRelease, p, Qt.LeftButton, Qt.NoButton)
        app.processEvents()  # the stroke becomes one undo step and is repainted
        release = time.perf_counter() - t

        fulls = []
        for _ in range(5):
            t = time.perf_counter()
            view.redraw_overlay(None)
            view.flush_overlay()
            app.processEvents()
            fulls.append(time.perf_counter() - t)

        # one large stroke right across the image, then undo / redo it
        win.toolbox.drawing.set_brush_size(200)
        send(QEvent.MouseButtonPress, (200, 300), Qt.LeftButton, Qt.LeftButton)
        for k in range(1, 41):
            send(QEvent.MouseMove, (200 + k * 90, 300 + k * 60), Qt.NoButton, Qt.LeftButton)
        send(QEvent.MouseButtonRelease, (3800, 2700), Qt.LeftButton, Qt.NoButton)
        app.processEvents()
        stack = win.doc.undo_stack
        big = stack.command(stack.index() - 1)
        undo, redo = [], []
        for _ in range(3):
            t = time.perf_counter()
            stack.undo()
            app.processEvents()
            undo.append(time.perf_counter() - t)
            t = time.perf_counter()
            stack.redo()
            app.processEvents()
            redo.append(time.perf_counter() - t)
        from model.editing.ops import PatchOp
        touched = next((op.rect for op in big.edit.ops if isinstance(op, PatchOp)), None)
        close(win)

    med, p95 = statistics.median(moves), sorted(moves)[int(0.95 * (len(moves) - 1))]
    full = statistics.median(fulls)
    lines = [
        f"workload: {W}x{H} image, 100 instances, brush 40 px on the largest, zoom 0.5, offscreen",
        f"brush move -> overlay repainted: median {med * 1000:.2f} ms, 95th percentile "
        f"{p95 * 1000:.2f} ms, worst {max(moves) * 1000:.2f} ms over {len(moves)} moves (target < 16 ms)",
        f"full-overlay recomposite + repaint: {full * 1000:.1f} ms; ratio move/full "
        f"{med / full:.3f}",
        f"mouse release (the stroke becomes one undo step, repainted): {release * 1000:.1f} ms",
        f"large stroke (200 px brush across the image): undo {statistics.median(undo) * 1000:.1f} ms, "
        f"redo {statistics.median(redo) * 1000:.1f} ms; the step keeps {big.nbytes / 1024:.0f} KiB "
        f"(bit-packed changed rectangle{f' {touched[2] - touched[0]}x{touched[3] - touched[1]}' if touched else ''}; "
        f"a full-image snapshot would be {W * H * 2 / 1024 / 1024:.0f} MiB)",
    ]
    print("\n".join(lines))
    write_section("editing", "bench/editing.py", lines, write=not args.no_write)


if __name__ == "__main__":
    main()
