"""Where the open dataset came from and where it goes: opening, saving, autosave,
crash recovery and the prediction cache. The Document owns the content.

Per-dataset state lives in a `.maskloop/` folder beside the COCO file (or in the
image folder before the first save): the recovery file, cached predictions, model
versions and training runs.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from model.data import recovery
from model.data.annotations import Dataset, ImageRecord
from model.data.atomic import atomic_write_json
from model.data.coco import load_dataset, save_dataset
from model.data.images import image_set
from model.effort import store as effort_store
from model.data.state_folder import state_folder
from model.data.prediction_cache import (assemble, cached_of, image_entry, read_cache, snap,
                                         write_cache_json)
from model.formats.layouts import DEFAULT_ANNOTATIONS
from model.formats.sources import open_path
from model.process_settings import freeze_long_lived

from .background import BackgroundWriter
from .document import Document

RECOVERY = "recovery.json"
PREDICTIONS = "predictions.json"
_RECOVERY_KEY = recovery.KEY


def _state_base(coco_path: Path | None, image_root: Path) -> Path:
    return coco_path.parent if coco_path is not None else image_root


def state_dir(coco_path: Path | None, image_root: Path) -> Path:
    """`.maskloop` in the dataset's folder, or the user's own when that one is a link
    (model/data/state_folder.py)."""
    return state_folder(_state_base(coco_path, image_root))[0]


def _state_file(coco_path: Path | None, image_root: Path, name: str) -> Path:
    stem = "" if coco_path is None else f"{coco_path.stem}."
    return state_dir(coco_path, image_root) / f"{stem}{name}"


def file_stamp(path: Path | None, hash_if: tuple | None = None) -> tuple | None:
    """(mtime, size, sha256) of a file; the hash is computed only when mtime or size
    differ from `hash_if` (a touched but unchanged file is not a change)."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if hash_if is not None and hash_if[:2] == (st.st_mtime_ns, st.st_size):
        return hash_if
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if hash_if is not None and hash_if[2] == digest:
        return hash_if
    return (st.st_mtime_ns, st.st_size, digest)


class Session(QObject):
    """Owns the file paths of the open dataset and every write to disk."""

    opened = Signal(str)  # display name
    saved = Signal(str)
    autosaved = Signal(str)
    message = Signal(str)  # for the status bar
    writeFailed = Signal(str)  # a background write failed: said once, until one succeeds
    stateMoved = Signal(str)  # the dataset's .maskloop is a link: where its state goes instead

    def __init__(self, doc: Document, autosave_seconds: int = 60):
        super().__init__()
        self.doc = doc
        self.source: Path | None = None  # what the user opened
        self.follow_symlinks = False  # open images through links that leave the folder
        self.coco_path: Path | None = None  # where Save writes; None until chosen
        self._reopen = None  # rebuilds a dataset that is not one path (dropped images)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.autosave)
        self.interval = 0
        self.set_autosave_interval(autosave_seconds)
        self._autosaved_state: tuple | None = None
        self._cache_state = -1
        self._cache_memo: dict[int, tuple[int, dict]] = {}  # image id -> (generation, entry)
        self._recovery_memo: dict[int, tuple[int, tuple]] = {}  # image id -> (gen, JSON part)
        self._recovery_gen = -1
        self._failing: set[str] = set()  # kinds of background write failing now
        self._disk: tuple | None = None  # the COCO file as last read or written
        self._state_said: set[Path] = set()  # folders whose moved state was said
        self.writer = BackgroundWriter(self)
        self.writer.done.connect(self._on_written)
        self.writer.failed.connect(self._on_write_failed)

    # ------------------------------------------------------------------- open
    def open(self, path: Path, image_root: Path | None = None) -> Dataset:
        """Load an image, folder or COCO file (raises with a clear message on bad input),
        then its cached predictions, so nothing is predicted twice."""
        path = Path(path).expanduser().resolve()
        ds = open_path(path, image_root, follow_symlinks=self.follow_symlinks)
        self._adopt(ds, path, reopen=None)
        return ds

    def open_images(self, paths: list[Path]) -> Dataset:
        """Open image files chosen one by one (a drop) as one dataset, rooted at the
        deepest folder that holds them all; file names are relative to it."""
        root, images = image_set(paths)
        ds = Dataset.from_image_paths(images, root)
        ds.source_format = "images"
        self._adopt(ds, root, reopen=lambda: Dataset.from_image_paths(images, root))
        return ds

    def _adopt(self, ds: Dataset, source: Path, reopen) -> None:
        """Make `ds` the open dataset; `reopen` rebuilds it from disk for a crash
        recovery (None: open `source` again)."""
        self.write_predictions()  # the dataset being closed keeps its cache
        self.writer.wait()
        self._cache_memo, self._recovery_memo, self._recovery_gen = {}, {}, -1
        self.source, self._reopen = source, reopen
        self.coco_path = ds.path
        self._disk = file_stamp(self.coco_path)
        self.doc.set_dataset(ds)
        self._load_effort()
        restored = self._restore_predictions()
        freeze_long_lived()  # a dataset: millions of long-lived objects
        self._autosaved_state = self._state()
        self._cache_state = self.doc.generation
        self.opened.emit(self.display_name())
        if restored:
            self.message.emit(f"Cached predictions restored for {restored} image(s)")

    def changed_on_disk(self) -> bool:
        """Has another program (or another MaskLoop window) written the COCO file since
        it was opened or saved here? mtime and size first, then the content's hash."""
        if self.coco_path is None or self._disk is None:
            return False
        now = file_stamp(self.coco_path, hash_if=self._disk)
        return now != self._disk

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

    def say_state_folder(self) -> None:
        """Once per folder: its `.maskloop` could not be used, and where the state is."""
        base = _state_base(self.coco_path, self.doc.dataset.image_root)
        warning = state_folder(base)[1]
        if warning and base not in self._state_said:
            self._state_said.add(base)
            self.stateMoved.emit(warning)

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
        self.coco_path = path
        self._disk = file_stamp(path)
        self.doc.mark_saved(path, out)
        self._recovery_memo, self._recovery_gen = {}, -1
        for p in {old_recovery, self.recovery_file()}:
            p.unlink(missing_ok=True)
        self._autosaved_state = self._state()
        self.write_predictions(force=True)
        self._write_effort()
        self.writer.wait()
        self.say_state_folder()
        if old_cache != self.predictions_file():  # a first save moves the cache beside it
            old_cache.unlink(missing_ok=True)
        self.saved.emit(str(path))

    def _state(self) -> tuple:
        return (self.doc.generation, self.doc.dirty)

    # ------------------------------------------------------------------ effort
    def effort_file(self) -> Path | None:
        """The saved dataset's effort record (model/effort/store.py); none before a save."""
        return None if self.coco_path is None else effort_store.effort_file(self.coco_path)

    def _load_effort(self) -> None:
        """The effort recorded up to the last save; a bad file is said, never fatal."""
        path = self.effort_file()
        if path is None:
            return
        entries, warning = effort_store.read(path)
        if warning:
            self.message.emit(f"warning: {warning}")
        self.doc.effort = effort_store.record_from(entries, self.doc.dataset)

    def _write_effort(self) -> None:
        """Beside the saved file, in step with it (a failure is said; the data is saved)."""
        try:
            effort_store.write(self.effort_file(), self.doc.effort, self.doc.dataset)
        except (OSError, ValueError) as e:
            self.writeFailed.emit(f"Writing the effort record failed: {e}")

    # --------------------------------------------------------- prediction cache
    def _restore_predictions(self, dedup: bool = False) -> int:
        """The cache was written in step with the saved file, so on a plain open it
        needs no duplicate check; after a crash the recovery copy may hold decisions
        taken since, so it gets one."""
        cache = read_cache(self.predictions_file(), self.doc.dataset)
        if cache is None:
            return 0
        gen = self.doc.image_generation
        for entry in cache.images:
            raw_ids = [p["category_id"] for p in entry.entry["predictions"]]
            merge = self.doc.apply_predictions(entry.rec, entry.instances, cache.categories,
                                               entry.model, dedup=dedup,
                                               attention=entry.attention)
            if not merge.dropped and [i.category_id for i in merge.added] == raw_ids:
                # unchanged since it was read: the next write reuses the entry as it was
                self._cache_memo[entry.rec.id] = (gen.get(entry.rec.id, 0), entry.entry)
        return len(cache.images)

    def write_predictions(self, force: bool = False) -> None:
        """Keep the cache on disk in step with the window, off the UI thread (best
        effort: it is a cache). Entries of images unchanged since the last write are
        reused, so the snapshot costs what changed, not the dataset."""
        doc = self.doc
        if doc.dataset is None or (not force and self._cache_state == doc.generation):
            return
        ds, since = doc.dataset, self._cache_state
        memo = self._cache_memo
        changed = {rid for rid, g in doc.image_generation.items() if g > since}
        order, fresh = [], []
        for rec in ds.images:
            if rec.prediction_model is None or not rec.size_known:
                continue
            order.append(rec.id)
            if rec.id in changed or rec.id not in memo:
                copy = ImageRecord(rec.id, rec.file_name, rec.width, rec.height,
                                   prediction_model=rec.prediction_model,
                                   attention=rec.attention)
                fresh.append((doc.image_generation.get(rec.id, 0), copy,
                              [snap(i) for i in cached_of(rec)]))
        cats, path, self._cache_state = list(ds.categories), self.predictions_file(), doc.generation
        meta = Dataset(image_root=ds.image_root)

        def job():
            built = {rec.id: (g, image_entry(meta, rec, insts)) for g, rec, insts in fresh}
            # memo is only added to on the UI thread, and a lookup is atomic
            entries = [built[rid][1] if rid in built else memo[rid][1] for rid in order]
            write_cache_json(path, assemble(entries, cats))
            return built

        self.writer.submit("predictions", job)

    def close(self) -> None:
        """The window is closing: keep the cache; the COCO file is the user's to save."""
        self.timer.stop()
        self.write_predictions()
        self.writer.wait()
        self.writer.shutdown()

    def _on_written(self, kind: str, result) -> None:
        if kind in self._failing:
            self._failing.discard(kind)
            self.message.emit(f"{'Autosave' if kind == 'recovery' else 'Prediction cache'} "
                              "works again")
        if kind == "predictions":
            self._cache_memo.update(result)  # image id -> (generation, entry)
            freeze_long_lived()  # the cache entries stay as long as the dataset
        elif kind == "recovery":
            path, built = result
            self._recovery_memo.update(built)
            self.autosaved.emit(str(path))

    def _on_write_failed(self, kind: str, message: str) -> None:
        if kind == "recovery":
            self._autosaved_state = None  # try again next tick
        if kind not in self._failing:  # once, not on every tick
            self._failing.add(kind)
            what = "Autosave" if kind == "recovery" else "Writing the prediction cache"
            self.writeFailed.emit(f"{what} failed: {message}")

    # --------------------------------------------------------------- autosave
    def set_autosave_interval(self, seconds: int) -> None:
        self.interval = max(0, int(seconds))
        if self.interval:
            self.timer.start(self.interval * 1000)
        else:
            self.timer.stop()

    def autosave(self, wait: bool = False) -> Path | None:
        """Write a recovery copy of what changed since the last save, on the writer
        thread (never the COCO file). The UI thread copies only the images changed
        since the last autosave. Returns the path, or None when nothing changed."""
        doc = self.doc
        if doc.dataset is None:
            return None
        self.write_predictions()
        state = self._state()
        if not doc.dirty or state == self._autosaved_state:
            if wait:
                self.writer.wait()
            return None
        ds, memo, since = doc.dataset, self._recovery_memo, self._recovery_gen
        gen = doc.image_generation
        order = [rec.id for rec in ds.images if rec.id in doc.touched]
        fresh = [(gen.get(rid, 0), recovery.copy_image(doc.image_record(rid))) for rid in order
                 if rid not in memo or gen.get(rid, 0) > since]
        cats, extra, keys = list(ds.categories), dict(ds.extra), list(ds.key_order)
        info = {"source": str(self.coco_path or ""), "image_root": str(ds.image_root),
                "written": dt.datetime.now().isoformat(timespec="seconds"), "delta": True}
        path = self.recovery_file()
        self._recovery_gen = doc.generation

        def job():
            built = {rec.id: (g, recovery.image_part(rec)) for g, rec in fresh}
            parts = [built[rid][1] if rid in built else memo[rid][1] for rid in order]
            atomic_write_json(path, recovery.document(parts, cats, extra, keys, info))
            return path, built

        self._autosaved_state = state
        self.writer.submit("recovery", job)
        if wait:
            self.writer.wait()
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
        """Lay the recovery copy over the dataset as opened from disk; it stays unsaved
        until Save. Images the copy names but the dataset lacks are reported."""
        self.writer.wait()
        saved = load_dataset(path, self.doc.dataset.image_root)
        base = self._reopen() if self._reopen is not None else open_path(
            self.source, self.doc.dataset.image_root, follow_symlinks=self.follow_symlinks)
        restored, missing = recovery.apply(base, saved)
        base.path = self.coco_path
        self.doc.set_dataset(base)
        self._load_effort()
        self._restore_predictions(dedup=True)
        self.doc.mark_unsaved(restored)
        self._autosaved_state = self._state()
        if missing:
            self.message.emit(f"{len(missing)} image(s) of the recovery copy are no longer in "
                              f"the dataset (first: {missing[0]})")
