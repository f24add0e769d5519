"""Process-wide settings, decided once by an entry point: main.py's commands
(model/cli/entry.py), the app (app/gui.py) and the benchmarks call these. The library
never does: a library that changes process-wide state surprises every program that
imports it. The heavy imports stay inside the functions so `--help` starts fast."""
from __future__ import annotations

import gc
import sys


def configure_libraries() -> None:
    """Pillow's decompression-bomb guard at MaskLoop's own pixel limit (Pillow's default
    would warn on a 90 MP image the rest of MaskLoop opens; the library reads a header
    before it lets Pillow decode), and OpenCV quiet: MaskLoop reports decoder trouble as
    ImageReadError naming the file, so OpenCV's own stderr line would be a duplicate."""
    from PIL import Image

    from model.data.images import DEFAULT_MAX_PIXELS
    Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS
    import cv2
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # pragma: no cover - very old OpenCV
        pass


def configure_for_window() -> None:
    """Settings for a smooth window while the model runs (the app, and the benchmark
    that measures it)."""
    from model.net.devices import configure_cpu_threads
    configure_cpu_threads(reserve=1)  # one core stays with the UI
    # the inference thread runs Python between torch ops; hand the GIL back to the
    # UI thread every millisecond instead of every 5
    sys.setswitchinterval(0.001)


def freeze_long_lived() -> None:
    """Move every object alive now out of the cyclic GC's reach (gc.freeze).

    The app calls it after it has built something that stays for a long time (a dataset
    of millions of objects, a model and its imports, a batch of predictions). A full
    collection walks every tracked object, and on such a heap it paused the window for
    100+ ms again and again; frozen objects are never walked. They are still freed by
    reference counting, so only cycles among them would leak."""
    gc.freeze()
