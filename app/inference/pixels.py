"""Decoded pixels for the canvas: the current image first, the next ones
prefetched on the loader thread, and a small cache of what was decoded."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from model.data.annotations import ImageRecord
from model.errors import ImageReadError

from ..document.document import Document
from .workers import ImageLoader

PIXEL_CACHE = 4  # decoded images kept (current and neighbours)


class PixelSource(QObject):
    pixelsReady = Signal(int, object, object)  # image id, rgb, bgra (current image only)
    pixelsFailed = Signal(int, str)
    loaded = Signal(int)  # image id: its pixels are in the cache (any image)
    sizeMismatch = Signal(int, str)  # image id, message
    unreadable = Signal(int, str)  # image id, why its file cannot be read ("": it can again)

    def __init__(self, doc: Document, reader: Callable[[Path], np.ndarray] | None = None,
                 prefetch: int = 2):
        super().__init__()
        self.doc, self.prefetch = doc, prefetch
        self.loader = ImageLoader(reader)
        self.cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.size_errors: dict[int, str] = {}  # image id -> why its pixels do not fit its record
        self.read_errors: dict[int, str] = {}  # image id -> why its file cannot be read
        self._req = 0
        self.loader.loaded.connect(self._on_loaded)
        doc.currentChanged.connect(self._on_current)
        doc.datasetReset.connect(self._on_reset)

    def rgb(self, image_id: int) -> np.ndarray | None:
        hit = self.cache.get(image_id)
        return None if hit is None else hit[0]

    def neighbours(self, row: int) -> list[ImageRecord]:
        """The images D shows next (prefetched): the review queue's, filter applied."""
        images = self.doc.dataset.images
        return [images[r] for r in self.doc.queue.next_rows(self.prefetch, row)]

    def _on_reset(self) -> None:
        self.cache.clear()
        self.size_errors.clear()
        self.read_errors.clear()

    def mark_unreadable(self, image_id: int, why: str) -> None:
        """Remember (and say, once) that an image cannot be read; "" : it can now."""
        if why == self.read_errors.get(image_id, ""):
            return
        if why:
            self.read_errors[image_id] = why
        else:
            self.read_errors.pop(image_id, None)
        self.unreadable.emit(image_id, why)

    def _path(self, rec: ImageRecord) -> Path:
        return self.doc.dataset.image_path(rec)

    def _on_current(self, row: int) -> None:
        rec = self.doc.current
        if rec is None:
            return
        self._req += 1
        if rec.id in self.cache:
            self.cache.move_to_end(rec.id)
            self.pixelsReady.emit(rec.id, *self.cache[rec.id])
        try:
            path = self._path(rec)
        except ImageReadError as e:
            self.mark_unreadable(rec.id, str(e))
            self.pixelsFailed.emit(rec.id, str(e))
            return
        nxt = []
        for r in self.neighbours(row):
            if r.id not in self.cache:
                try:
                    nxt.append((self._req, r.id, self._path(r)))
                except ImageReadError as e:
                    self.mark_unreadable(r.id, str(e))
        if rec.id in self.cache:
            if nxt:
                self.loader.request(*nxt[0], prefetch=nxt[1:])
        else:
            self.loader.request(self._req, rec.id, path, prefetch=nxt)

    def _on_loaded(self, req: int, image_id: int, rgb, bgra, error: str) -> None:
        rec = self.doc.image_record(image_id)
        if rec is None:
            return
        if error:
            self.mark_unreadable(image_id, error)
            if self.doc.current is rec:
                self.pixelsFailed.emit(image_id, error)
            return
        self.mark_unreadable(image_id, "")
        self.cache[image_id] = (rgb, bgra)
        self.cache.move_to_end(image_id)
        while len(self.cache) > PIXEL_CACHE:
            oldest = next(iter(self.cache))
            if self.doc.current is not None and oldest == self.doc.current.id:
                self.cache.move_to_end(oldest)
                continue
            self.cache.popitem(last=False)
        self.check_size(rec, rgb.shape[:2])
        if self.doc.current is rec:
            self.pixelsReady.emit(image_id, rgb, bgra)
        self.loaded.emit(image_id)

    def check_size(self, rec: ImageRecord, hw) -> bool:
        """Do these pixels fit the record? A record that did not know its size learns it.
        One that disagrees keeps its size (its masks are in that frame) and is flagged."""
        h, w = int(hw[0]), int(hw[1])
        if not rec.size_known:
            self.doc.note_size(rec, w, h)
            return True
        if (rec.height, rec.width) == (h, w):
            self.size_errors.pop(rec.id, None)
            return True
        if rec.id not in self.size_errors:
            msg = (f"{rec.file_name}: the image file is {w}x{h} but the COCO file says "
                   f"{rec.width}x{rec.height}. The annotations keep the COCO size; predictions "
                   "for this image are not applied until the file and the record agree.")
            self.size_errors[rec.id] = msg
            self.sizeMismatch.emit(rec.id, msg)
        return False

    def shutdown(self) -> None:
        self.loader.shutdown()
