"""Opening, saving, autosave and crash recovery for one dataset.

Per-dataset state lives in a `.maskloop/` folder beside the COCO file (or in the
image folder before the first save): the recovery file now, model versions later.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from model.annotations import Dataset
from model.atomic import atomic_write_json
from model.coco import dataset_json, load_dataset
from model.sources import DEFAULT_ANNOTATIONS, open_path

from .document import Document

STATE_DIR = ".maskloop"
RECOVERY = "recovery.json"
_RECOVERY_KEY = "maskloop_recovery"


def state_dir(coco_path: Path | None, image_root: Path) -> Path:
    base = coco_path.parent if coco_path is not None else image_root
    return base / STATE_DIR


def recovery_path(coco_path: Path | None, image_root: Path) -> Path:
    name = RECOVERY if coco_path is None else f"{coco_path.stem}.{RECOVERY}"
    return state_dir(coco_path, image_root) / name


class Session(QObject):
    """Owns where the dataset came from and where it goes; the Document owns its content."""

    opened = Signal(str)  # display name
    saved = Signal(str)
    autosaved = Signal(str)

    def __init__(self, doc: Document, autosave_seconds: int = 60):
        super().__init__()
        self.doc = doc
        self.source: Path | None = None
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.autosave)
        self.set_autosave_interval(autosave_seconds)
        self._autosaved_state: tuple | None = None

    # ------------------------------------------------------------------- open
    def open(self, path: Path, image_root: Path | None = None) -> Dataset:
        """Load an image, folder or COCO file (raises with a clear message on bad input)."""
        path = Path(path).expanduser().resolve()
        ds = open_path(path, image_root)
        coco = ds.path if ds.path is not None else None
        self.source = path
        self.doc.set_dataset(ds, coco)
        self._autosaved_state = self._state()
        self.opened.emit(self.display_name())
        return ds

    def display_name(self) -> str:
        if self.doc.coco_path is not None:
            return self.doc.coco_path.name
        if self.source is not None:
            return self.source.name
        return "untitled"

    def default_save_path(self) -> Path:
        ds = self.doc.dataset
        return self.doc.coco_path or ds.image_root / DEFAULT_ANNOTATIONS

    # ------------------------------------------------------------------- save
    def save(self, path: Path) -> None:
        old_recovery = self.recovery_file()
        self.doc.save(Path(path))
        for p in {old_recovery, self.recovery_file()}:
            p.unlink(missing_ok=True)
        self._autosaved_state = self._state()
        self.saved.emit(str(path))

    def recovery_file(self) -> Path:
        return recovery_path(self.doc.coco_path, self.doc.dataset.image_root)

    def _state(self) -> tuple:
        return (self.doc.undo_stack.index(), self.doc.undo_stack.count(),
                self.doc.generation, self.doc.dirty)

    # --------------------------------------------------------------- autosave
    def set_autosave_interval(self, seconds: int) -> None:
        self.interval = max(0, int(seconds))
        if self.interval:
            self.timer.start(self.interval * 1000)
        else:
            self.timer.stop()

    def autosave(self) -> Path | None:
        """Write a recovery copy if anything changed since the last one (never the COCO file)."""
        if self.doc.dataset is None or not self.doc.dirty:
            return None
        state = self._state()
        if state == self._autosaved_state:
            return None
        data, _ = dataset_json(self.doc.saveable())
        data[_RECOVERY_KEY] = {"source": str(self.doc.coco_path or ""),
                               "image_root": str(self.doc.dataset.image_root),
                               "written": dt.datetime.now().isoformat(timespec="seconds")}
        path = self.recovery_file()
        atomic_write_json(path, data)
        self._autosaved_state = state
        self.autosaved.emit(str(path))
        return path

    def discard_recovery(self) -> None:
        if self.doc.dataset is not None:
            self.recovery_file().unlink(missing_ok=True)

    def pending_recovery(self) -> Path | None:
        """A recovery file newer than the saved COCO file, i.e. left by a crash."""
        if self.doc.dataset is None:
            return None
        rec = self.recovery_file()
        if not rec.is_file():
            return None
        coco = self.doc.coco_path
        if coco is not None and coco.is_file() and coco.stat().st_mtime > rec.stat().st_mtime:
            return None
        return rec

    def restore(self, path: Path) -> None:
        """Replace the open dataset with the recovery copy; it stays unsaved until Save."""
        ds = load_dataset(path, self.doc.dataset.image_root)
        ds.extra.pop(_RECOVERY_KEY, None)
        if _RECOVERY_KEY in ds.key_order:
            ds.key_order.remove(_RECOVERY_KEY)
        coco = self.doc.coco_path
        ds.path = coco
        self.doc.set_dataset(ds, coco)
        self.doc.mark_changed()
        self._autosaved_state = self._state()
