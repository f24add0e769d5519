"""Where the open dataset came from and where it goes: opening, saving, autosave,
crash recovery and the prediction cache. The Document owns the content.

Per-dataset state lives in a `.maskloop/` folder beside the COCO file (or in the
image folder before the first save): the recovery file, cached predictions, model
versions and training runs.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from model.annotations import Dataset
from model.atomic import atomic_write_json
from model.coco import dataset_json, load_dataset, save_dataset
from model.prediction_cache import read_cache, write_cache
from model.sources import DEFAULT_ANNOTATIONS, open_path

from .document import Document

STATE_DIR = ".maskloop"
RECOVERY = "recovery.json"
PREDICTIONS = "predictions.json"
_RECOVERY_KEY = "maskloop_recovery"


def state_dir(coco_path: Path | None, image_root: Path) -> Path:
    base = coco_path.parent if coco_path is not None else image_root
    return base / STATE_DIR


def _state_file(coco_path: Path | None, image_root: Path, name: str) -> Path:
    stem = "" if coco_path is None else f"{coco_path.stem}."
    return state_dir(coco_path, image_root) / f"{stem}{name}"


class Session(QObject):
    """Owns the file paths of the open dataset and every write to disk."""

    opened = Signal(str)  # display name
    saved = Signal(str)
    autosaved = Signal(str)
    message = Signal(str)  # for the status bar

    def __init__(self, doc: Document, autosave_seconds: int = 60):
        super().__init__()
        self.doc = doc
        self.source: Path | None = None  # what the user opened
        self.coco_path: Path | None = None  # where Save writes; None until chosen
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.autosave)
        self.interval = 0
        self.set_autosave_interval(autosave_seconds)
        self._autosaved_state: tuple | None = None
        self._cache_state = -1

    # ------------------------------------------------------------------- open
    def open(self, path: Path, image_root: Path | None = None) -> Dataset:
        """Load an image, folder or COCO file (raises with a clear message on bad input),
        then its cached predictions, so nothing is predicted twice."""
        path = Path(path).expanduser().resolve()
        ds = open_path(path, image_root)
        self.write_predictions()  # the dataset being closed keeps its cache
        self.source = path
        self.coco_path = ds.path
        self.doc.set_dataset(ds)
        restored = self._restore_predictions()
        self._autosaved_state = self._state()
        self._cache_state = self.doc.generation
        self.opened.emit(self.display_name())
        if restored:
            self.message.emit(f"Cached predictions restored for {restored} image(s)")
        return ds

    def display_name(self) -> str:
        if self.coco_path is not None:
            return self.coco_path.name
        if self.source is not None:
            return self.source.name
        return "untitled"

    def default_save_path(self) -> Path:
        return self.coco_path or self.doc.dataset.image_root / DEFAULT_ANNOTATIONS

    def state_dir(self) -> Path:
        return state_dir(self.coco_path, self.doc.dataset.image_root)

    def recovery_file(self) -> Path:
        return _state_file(self.coco_path, self.doc.dataset.image_root, RECOVERY)

    def predictions_file(self) -> Path:
        return _state_file(self.coco_path, self.doc.dataset.image_root, PREDICTIONS)

    # ------------------------------------------------------------------- save
    def save(self, path: Path) -> None:
        """Write the data (decisions and the file's own content, never the cache)."""
        path = Path(path)
        if path.exists() and (not os.access(path, os.W_OK)
                              or not path.stat().st_mode & 0o222):  # root may, but mustn't
            raise PermissionError(f"{path} is read-only; save it elsewhere (Save As) or make "
                                  "it writable")
        old_recovery, old_cache = self.recovery_file(), self.predictions_file()
        out = self.doc.data_view()
        save_dataset(out, path)
        ds = self.doc.dataset
        ds._next_ann_id = max(ds._next_ann_id, out._next_ann_id)
        self.coco_path = path
        ds.path = path
        self.doc.mark_saved()
        for p in {old_recovery, self.recovery_file()}:
            p.unlink(missing_ok=True)
        self._autosaved_state = self._state()
        self.write_predictions(force=True)
        if old_cache != self.predictions_file():  # a first save moves the cache beside it
            old_cache.unlink(missing_ok=True)
        self.saved.emit(str(path))

    def _state(self) -> tuple:
        return (self.doc.generation, self.doc.dirty)

    # --------------------------------------------------------- prediction cache
    def _restore_predictions(self, dedup: bool = False) -> int:
        """The cache was written in step with the saved file, so on a plain open it
        needs no duplicate check; after a crash the recovery copy may hold decisions
        taken since, so it gets one."""
        cache = read_cache(self.predictions_file(), self.doc.dataset)
        if cache is None:
            return 0
        for entry in cache.images:
            self.doc.apply_predictions(entry.rec, entry.instances, cache.categories,
                                       entry.model, dedup=dedup)
        return len(cache.images)

    def write_predictions(self, force: bool = False) -> None:
        """Keep the cache on disk in step with the window (best effort: it is a cache)."""
        if self.doc.dataset is None or (not force and self._cache_state == self.doc.generation):
            return
        try:
            write_cache(self.predictions_file(), self.doc.dataset)
        except OSError as e:
            self.message.emit(f"Could not write the prediction cache: {e}")
            return
        self._cache_state = self.doc.generation

    def close(self) -> None:
        """The window is closing: keep the cache; the COCO file is the user's to save."""
        self.timer.stop()
        self.write_predictions()

    # --------------------------------------------------------------- autosave
    def set_autosave_interval(self, seconds: int) -> None:
        self.interval = max(0, int(seconds))
        if self.interval:
            self.timer.start(self.interval * 1000)
        else:
            self.timer.stop()

    def autosave(self) -> Path | None:
        """Write a recovery copy if anything changed since the last one (never the COCO file)."""
        if self.doc.dataset is None:
            return None
        self.write_predictions()
        if not self.doc.dirty:
            return None
        state = self._state()
        if state == self._autosaved_state:
            return None
        data, _ = dataset_json(self.doc.data_view())
        data[_RECOVERY_KEY] = {"source": str(self.coco_path or ""),
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
        coco = self.coco_path
        if coco is not None and coco.is_file() and coco.stat().st_mtime > rec.stat().st_mtime:
            return None
        return rec

    def restore(self, path: Path) -> None:
        """Replace the open dataset with the recovery copy; it stays unsaved until Save."""
        ds = load_dataset(path, self.doc.dataset.image_root)
        ds.extra.pop(_RECOVERY_KEY, None)
        if _RECOVERY_KEY in ds.key_order:
            ds.key_order.remove(_RECOVERY_KEY)
        ds.path = self.coco_path
        self.doc.set_dataset(ds)
        self._restore_predictions(dedup=True)
        self.doc.mark_unsaved()
        self._autosaved_state = self._state()
