"""`python main.py gui [PATH]`: start the desktop application."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.cli.args import side

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"  # in a clone


def demo_folder() -> Path | None:
    """The bundled demo images: in a clone, resources/demo; in an installed wheel, the
    package data of `maskloop_resources`."""
    if DEMO.is_dir():
        return DEMO
    try:
        from importlib.resources import files
        found = Path(str(files("maskloop_resources") / "demo"))
    except (ImportError, TypeError):
        return None
    return found if found.is_dir() else None


def writable_demo(folder: Path, user_dir: Path) -> Path:
    """The demo where the app may save beside it: an installed copy (site-packages, often
    read-only, and shared) is copied once to the user's data folder first."""
    import os
    import shutil
    if os.access(folder, os.W_OK) and "site-packages" not in folder.parts:
        return folder
    target = user_dir / "demo"
    if not target.is_dir():
        shutil.copytree(folder, target)
    return target


def add_gui_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop application (the default command)",
                       description="Open MaskLoop on an image, a folder of images or a COCO "
                                   "JSON file (default: the bundled demo images).")
    p.add_argument("path", nargs="?", default=None, help="image, folder or COCO JSON")
    p.add_argument("--images", default=None, help="image root for a COCO JSON "
                                                  "(default: the JSON's folder)")
    p.add_argument("--weights", default=None, help="coco, coco-v2, none or a checkpoint path "
                                                   "(default: the last one used, else coco)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--min-size", type=side, default=None,
                   help="shorter side the model sees (800)")
    p.add_argument("--max-size", type=side, default=None, help="longer side cap (1333)")
    p.add_argument("--learn", action="store_true",
                   help="learn while you work (Model → Learn while I work): train in the "
                        "background on each image you finish, and use the model once it "
                        "beats the one in use on held-out images")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="open files (images and annotation files) through symbolic links "
                        "that point outside the folder opened")
    p.set_defaults(func=run_gui)


def configure_process() -> None:
    """Process-wide settings for a smooth window while the model runs."""
    from model.net.devices import configure_cpu_threads
    configure_cpu_threads(reserve=1)  # one core stays with the UI
    # the inference thread runs Python between torch ops; hand the GIL back to the
    # UI thread every millisecond instead of every 5
    sys.setswitchinterval(0.001)


def run_gui(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication

    from .window.main_window import MainWindow

    configure_process()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MaskLoop")
    app.setOrganizationName("MaskLoop")
    win = MainWindow(weights=args.weights, device=args.device, min_size=args.min_size,
                     max_size=args.max_size)
    win.session.follow_symlinks = args.follow_symlinks
    win.show()
    path = args.path
    if path is None and (demo := demo_folder()) is not None:
        from PySide6.QtCore import QStandardPaths
        user_dir = Path(QStandardPaths.writableLocation(QStandardPaths.AppDataLocation))
        try:
            path = writable_demo(demo, user_dir)
        except OSError as e:
            print(f"warning: cannot copy the demo images to {user_dir}: {e}", file=sys.stderr)
            path = demo
    if path is not None:
        win.open_path(path, args.images)
    if args.learn:  # starts on the dataset now open, or on the next one opened
        win.actions_["actionLearn"].setChecked(True)
    return app.exec()
