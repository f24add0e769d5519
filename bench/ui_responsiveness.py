"""Benchmark: does the UI stay smooth while the model runs?

Workload: the real Mask R-CNN (weights="none", min_size 800) running predict-all
over 12 MP images in the app's inference thread, offscreen. A 10 ms QTimer
heartbeat on the UI thread records how late each tick fires: the longest stall
and the 99th percentile. Target: longest stall under 50 ms.

Also times the overlay: a full recomposite of 100 instances on a 12 MP image,
against the redraw of one instance's rectangle (the edit path).

Usage: QT_QPA_PLATFORM=offscreen python -m bench.ui_responsiveness [--images 3]
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


def make_images(folder: Path, n: int) -> None:
    import cv2
    import numpy as np
    from model.data.images import read_image
    base = cv2.resize(read_image(ROOT / "resources/demo/astronaut.png"), (W, H))
    rng = np.random.default_rng(0)
    for k in range(n):
        img = np.clip(base.astype(np.int16) + rng.integers(-20, 20, (1, 1, 3)), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"big_{k}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def overlay_timings() -> tuple[float, float]:
    import numpy as np
    from app.canvas.overlay import OverlayCompositor, instance_rect
    from model.data.annotations import Instance
    rng = np.random.default_rng(1)
    insts = []
    for k in range(100):
        rx, ry = int(rng.integers(40, 400)), int(rng.integers(40, 400))
        yy, xx = np.mgrid[-ry:ry + 1, -rx:rx + 1]
        m = (xx / rx) ** 2 + (yy / ry) ** 2 <= 1
        insts.append(Instance(1, m, (int(rng.integers(0, W - 2 * rx)), int(rng.integers(0, H - 2 * ry)))))
    comp = OverlayCompositor(H, W)
    color = lambda inst: (200, 80, 40)  # noqa: E731
    comp.render(insts, color)  # warm the outline cache
    full, one = [], []
    for _ in range(5):
        t = time.perf_counter()
        comp.render(insts, color)
        full.append(time.perf_counter() - t)
        t = time.perf_counter()
        comp.render(insts, color, instance_rect(insts[50]))
        one.append(time.perf_counter() - t)
    return statistics.median(full), statistics.median(one)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=3)
    add_no_write_option(ap)
    args = ap.parse_args()

    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from model.process_settings import configure_for_window, configure_libraries
    from bench._window import offscreen_window

    import torch
    torch.manual_seed(0)  # the same random weights every run
    configure_libraries()  # as `python main.py gui` does
    configure_for_window()
    app = QApplication.instance() or QApplication([])  # noqa: F841  (kept alive for the run)
    full, one = overlay_timings()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "imgs"
        folder.mkdir()
        make_images(folder, args.images)
        _, win = offscreen_window(Path(tmp), load_model=True, min_size=800, max_size=1333)
        ready = {"model": False, "pixels": False}
        loop = QEventLoop()

        def mark(key):
            ready[key] = True
            if all(ready.values()):
                loop.quit()
        win.inference.modelReady.connect(lambda _i: mark("model"))
        win.inference.pixelsReady.connect(lambda *_: mark("pixels"))
        win.open_path(folder)
        loop.exec()

        ticks: list[float] = []
        clock = QElapsedTimer()
        heartbeat = QTimer()
        heartbeat.setInterval(10)
        heartbeat.timeout.connect(lambda: ticks.append(clock.nsecsElapsed() / 1e6))
        batch_loop = QEventLoop()
        win.inference.batchRunning.connect(lambda running: running or batch_loop.quit())
        clock.start()
        heartbeat.start()
        started = time.perf_counter()
        win.inference.predict_all(include_done=True)
        batch_loop.exec()
        wall = time.perf_counter() - started
        heartbeat.stop()
        n_inst = sum(len(r.instances) for r in win.doc.dataset.images)
        win.close()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    stalls = sorted(max(0.0, g - 10.0) for g in gaps)
    worst = stalls[-1]
    p99 = stalls[int(0.99 * (len(stalls) - 1))]
    lines = [
        f"predict-all: {args.images} images of {W}x{H}, weights none, min_size 800, CPU, "
        f"{wall:.1f} s, {n_inst} instances",
        f"UI heartbeat (10 ms timer): {len(gaps)} ticks; longest stall {worst:.1f} ms "
        f"(target < 50 ms), 99th percentile {p99:.1f} ms",
        f"overlay, 100 instances on {W}x{H}: full recomposite {full * 1000:.1f} ms, "
        f"one instance's rectangle {one * 1000:.2f} ms (ratio {one / full:.3f})",
    ]
    print("\n".join(lines))
    write_section("ui_responsiveness", "bench/ui_responsiveness.py", lines, write=not args.no_write)


if __name__ == "__main__":
    main()
