"""A MainWindow for scripts (benchmarks, README screenshots): offscreen, isolated
settings, no questions asked, and helpers that wait for the canvas to show pixels."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def offscreen_window(settings_dir: Path, size=(1400, 900), load_model: bool = False, **kw):
    """(QApplication, MainWindow) with settings in settings_dir and auto-predict off."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.window.main_window import MainWindow
    app = QApplication.instance() or QApplication([])
    s = QSettings(str(Path(settings_dir) / "settings.ini"), QSettings.IniFormat)
    s.setValue("auto_predict", False)
    s.setValue("autosave_seconds", 0)
    kw.setdefault("weights", "none")
    kw.setdefault("device", "cpu")
    win = MainWindow(settings=s, load_model=load_model, **kw)
    win.notifier.ask = lambda *a, **k: "Discard"
    win.resize(*size)
    win.show()
    return app, win


def show(win, path=None, row: int | None = None) -> None:
    """Open path (if given) and/or go to row, and return once its pixels are on the canvas."""
    from PySide6.QtCore import QEventLoop
    loop = QEventLoop()
    shown = []
    win.inference.pixelsReady.connect(lambda image_id, *_: (shown.append(image_id), loop.quit()))

    def wait_for_current() -> None:
        if win.doc.current is not None and win.doc.current.id not in shown:
            loop.exec()  # cached pixels arrive at once, decoded ones later

    if path is not None:
        win.open_path(path)
        wait_for_current()
    if row:
        shown.clear()
        win.doc.set_row(row)
        wait_for_current()
    win.canvas.flush_overlay()


def close(win) -> None:
    win.doc.undo_stack.setClean()
    win.close()
