"""Opening and saving as the user does it: file dialogs, recent files, drag and
drop, the unsaved-changes question and crash recovery. The Session does the
writing; this asks the questions."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QWidget

from model.formats.crowd import brush_crowds, crowd_edit, crowd_sign
from model.net.from_boxes import box_only
from model.data.images import is_image_file
from model.formats.registry import title
from model.text import shown_warnings

from ..document.document import Document
from ..document.session import Session
from ..notify import Notifier
from ..settings import Settings

MAX_RECENT = 10


class FileController(QObject):
    message = Signal(str, int)  # text, milliseconds
    titleChanged = Signal()
    fillBoxes = Signal(bool)  # fill box-only annotations (True: with the model)

    def __init__(self, doc: Document, session: Session, notifier: Notifier, settings: Settings,
                 dialog_parent: QWidget, recent_menu: QMenu):
        super().__init__()
        self.doc, self.session, self.notifier, self.settings = doc, session, notifier, settings
        self.dialog_parent, self.recent_menu = dialog_parent, recent_menu
        self.rebuild_recent()

    # -------------------------------------------------------------------- open
    def open_path(self, path, image_root=None) -> bool:
        """Open an image, folder or COCO file; a bad one gets a message, nothing else changes."""
        if not self.maybe_save():
            return False
        try:
            ds = self.session.open(Path(path), Path(image_root) if image_root else None)
        except Exception as e:  # CocoFormatError, ImageReadError, FileNotFoundError, OSError
            self.notifier.error("Cannot open", str(e))
            return False
        if ds.warnings:
            self.notifier.warning("Problems in the file", "\n".join(
                shown_warnings(ds.warnings, 12)) + "\n\nEverything else was read.")
        if ds.source_format not in ("coco", "images"):  # another tool's annotations
            self.message.emit(f"Opened {Path(path).name} as {title(ds.source_format)}: "
                              f"{len(ds.images)} image(s), {ds.num_instances()} instance(s); "
                              f"Save writes COCO to {self.session.default_save_path()}", 10_000)
        brush = brush_crowds(ds)
        if brush:
            answer = self.notifier.ask(
                "Crowd masks",
                f"{len(brush)} annotation(s) are crowd regions (iscrowd: 1) that look like "
                f"ordinary instances: {crowd_sign(ds)}. As crowd regions they are never "
                "trained on. Treat them as ordinary instances? (One undo step; the masks do "
                "not change.)",
                ["Treat as instances", "Keep as crowd"], "Treat as instances")
            if answer == "Treat as instances":
                self.doc.push(crowd_edit(brush))
        boxes = box_only(ds)
        if boxes:
            answer = self.notifier.ask(
                "Boxes without masks",
                f"{boxes} annotation(s) have boxes but no masks. Fill them with the model? "
                "(Its mask head segments each box; a class it does not know gets the "
                "inscribed ellipse. "
                "The masks go through review like predictions; the boxes are kept.)",
                ["Fill with the model", "Fill with ellipses", "Not now"], "Fill with the model")
            if answer in ("Fill with the model", "Fill with ellipses"):
                self.fillBoxes.emit(answer == "Fill with the model")
        self.remember(Path(path).resolve())
        self.settings.last_folder = str(Path(path).resolve().parent)
        self._offer_recovery()
        self.session.say_state_folder()  # after the question, not hidden under it
        self.titleChanged.emit()
        return True

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.dialog_parent, "Open image, COCO or labelme file", self.settings.last_folder,
            "Images, COCO or labelme JSON (*.json *.jpg *.jpeg *.png *.tif *.tiff *.bmp *.webp);;"
            "All files (*)")
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.dialog_parent, "Open folder (images, labelme, "
                                                "YOLO-seg, mask PNGs)",
                                                self.settings.last_folder)
        if path:
            self.open_path(path)

    def open_dropped(self, paths: list[str]) -> bool:
        """Open what was dropped: one path as File > Open would; image files only as one
        dataset (the deepest folder holding them is its image root); a mix of things
        (a COCO file and images, two JSON files, a folder and a file) asks which one.
        The unsaved-changes question comes after that choice, before anything opens."""
        paths = list(dict.fromkeys(str(p) for p in paths))
        if len(paths) <= 1:
            return bool(paths) and self.open_path(paths[0])
        images = [p for p in paths if is_image_file(Path(p)) and Path(p).is_file()]
        if len(images) == len(paths):
            return self.open_images(images)
        others = [p for p in paths if p not in images]
        labels = [f"{Path(p).name}  ({Path(p).parent})" for p in others]
        if len(images) > 1:
            labels.insert(0, f"The {len(images)} images, as one dataset")
        elif images:
            others.insert(0, images[0])
            labels.insert(0, f"{Path(images[0]).name}  ({Path(images[0]).parent})")
        label, ok = QInputDialog.getItem(
            self.dialog_parent, "Open which?",
            f"{len(paths)} items were dropped and they are not one dataset. Open:",
            labels, 0, False)
        if not ok or label not in labels:
            return False
        k = labels.index(label)
        if len(images) > 1:
            return self.open_images(images) if k == 0 else self.open_path(others[k - 1])
        return self.open_path(others[k])

    def open_images(self, paths: list[str]) -> bool:
        """Open image files chosen one by one as one dataset (see Session.open_images)."""
        if not self.maybe_save():
            return False
        try:
            ds = self.session.open_images([Path(p) for p in paths])
        except Exception as e:  # ValueError (no common folder), OSError
            self.notifier.error("Cannot open", str(e))
            return False
        self.settings.last_folder = str(ds.image_root)
        self.message.emit(f"Opened {len(ds.images)} images; file names are relative to "
                          f"{ds.image_root}", 8000)
        self._offer_recovery()
        self.session.say_state_folder()  # after the question, not hidden under it
        self.titleChanged.emit()
        return True

    def _offer_recovery(self) -> None:
        """After an open: restore unsaved work an earlier session left behind?"""
        recovery = self.session.pending_recovery()
        if recovery is None:
            return
        answer = self.notifier.ask(
            "Recover unsaved work?",
            f"MaskLoop found unsaved changes from an earlier session that did not close "
            f"normally:\n{recovery}\n\nRestore them?", ["Restore", "Discard"], "Restore")
        if answer == "Restore":
            self.session.restore(recovery)
        else:
            recovery.unlink(missing_ok=True)

    # -------------------------------------------------------------------- save
    def ask_save_path(self, default: Path) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self.dialog_parent, "Save COCO file", str(default),
                                              "COCO JSON (*.json)")
        return Path(path) if path else None

    def save(self, ask: bool = False) -> bool:
        if self.doc.dataset is None:
            return False
        path = self.session.coco_path
        if ask or path is None:
            path = self.ask_save_path(self.session.default_save_path())
            if path is None:
                return False
        elif self.session.changed_on_disk():
            answer = self.notifier.ask(
                "The file changed on disk",
                f"{path} was changed by another program or window since it was opened here. "
                "Saving now would overwrite those changes.",
                ["Save As…", "Overwrite", "Reload (drop my changes)", "Cancel"], "Save As…")
            if answer == "Save As…":
                return self.save(ask=True)
            if answer == "Reload (drop my changes)":
                self.session.discard_recovery()
                self.doc.mark_saved()  # nothing to ask about: the user chose to drop it
                return self.open_path(path)
            if answer != "Overwrite":
                return False
        try:
            self.session.save(path)
        except Exception as e:  # disk full, permissions, unreadable image size
            kept = self.session.recovery_file()
            where = (f"The last autosave copy is {kept}." if kept.is_file()
                     else "There is no autosave copy yet.")
            self.notifier.error("Save failed", f"{path}: {e}\n\nYour changes are still open "
                                f"in this window. {where}")
            return False
        self.remember(Path(path).resolve())
        self.message.emit(f"Saved {path}", 5000)
        self.titleChanged.emit()
        return True

    def maybe_save(self) -> bool:
        """Ask before unsaved work would be lost; False means the user cancelled."""
        if self.doc.dataset is None or not self.doc.dirty:
            return True
        answer = self.notifier.ask("Unsaved changes",
                                   f"Save the changes to {self.session.display_name()}?",
                                   ["Save", "Discard", "Cancel"], "Save")
        if answer == "Save":
            return self.save()
        if answer == "Discard":
            self.session.discard_recovery()
            return True
        return False

    def ask_autosave_interval(self) -> None:
        seconds, ok = QInputDialog.getInt(
            self.dialog_parent, "Autosave",
            "Copy unsaved work to the recovery file every N seconds (0: off):",
            self.session.interval, 0, 3600, 10)
        if ok:
            self.set_autosave_interval(seconds)

    def set_autosave_interval(self, seconds: int) -> None:
        self.session.set_autosave_interval(seconds)
        self.settings.autosave_seconds = self.session.interval

    # ------------------------------------------------------------------ recent
    def remember(self, path: Path) -> None:
        recent = [p for p in self.settings.recent if p != str(path)]
        self.settings.recent = [str(path)] + recent[:MAX_RECENT - 1]
        self.settings.save()
        self.rebuild_recent()

    def rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.settings.recent:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _c=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.settings.recent))
