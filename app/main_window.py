"""MainWindow: wiring only. Docks, menus, toolbar, status bar, settings; the work is
done by Document (data), Session (files), InferenceController (threads)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QStyle, QToolBar, QToolButton)

from .actions import build_actions, shortcuts_html
from .canvas.view import CanvasView
from .commands import review_command, status_command
from .display_dock import DisplayPanel
from .document import Document
from .edit_wiring import EditWiring
from .finetune import FineTune
from .image_list import ImageListPanel
from .inference import InferenceController
from .instance_list import InstanceTable
from .model_panel import ModelPanel
from .notify import Notifier
from .session import Session
from .workers import default_factory

MAX_RECENT = 10
TOOLBAR_ICONS = {
    "actionOpen": QStyle.SP_DialogOpenButton, "actionSave": QStyle.SP_DialogSaveButton,
    "actionUndo": QStyle.SP_ArrowBack, "actionRedo": QStyle.SP_ArrowForward,
    "actionPrevImage": QStyle.SP_MediaSeekBackward, "actionNextImage": QStyle.SP_MediaSeekForward,
    "actionAccept": QStyle.SP_DialogApplyButton, "actionReject": QStyle.SP_DialogDiscardButton,
    "actionMarkDone": QStyle.SP_DialogYesButton, "actionPredict": QStyle.SP_MediaPlay,
    "actionPredictAll": QStyle.SP_MediaSkipForward, "actionCancel": QStyle.SP_MediaStop,
}


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, factory=default_factory,
                 reader=None, weights: str | None = None, device: str | None = None,
                 min_size: int | None = None, max_size: int | None = None,
                 load_model: bool = True):
        super().__init__()
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("MaskLoop", "MaskLoop")
        self.min_size, self.max_size = min_size, max_size
        self.notifier = Notifier(self)
        self.doc = Document(self)
        self.session = Session(self.doc, int(self.settings.value("autosave_seconds", 60)))
        self.inference = InferenceController(self.doc, self.notifier, factory, reader)
        self.canvas = CanvasView(self.doc)
        self.setCentralWidget(self.canvas)
        self.actions_ = build_actions(self, {
            "actionUndo": self.doc.undo_stack.createUndoAction(self),
            "actionRedo": self.doc.undo_stack.createRedoAction(self)})
        self._build_docks()
        self._build_status_bar()
        self.model_panel = ModelPanel(self, weights, device)
        self._build_menus_and_toolbar()
        self.editing = EditWiring(self)
        self.finetune = FineTune(self)
        self.finetune.versions_menu = self.versions_menu
        self.finetune.rebuild_versions_menu()
        self._build_tools_menu()
        self._connect()
        self._restore_settings()
        self._update_title()
        if load_model:
            self.model_panel.apply_model_choice()

    # ------------------------------------------------------------------ layout
    def _dock(self, title: str, name: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.image_panel = ImageListPanel(self.doc)
        self.instance_table = InstanceTable(self.doc)
        self.display = DisplayPanel(float(self.settings.value("threshold", 0.5)),
                                    float(self.settings.value("opacity", 0.45)))
        self.docks = [
            self._dock("Images", "imagesDock", self.image_panel, Qt.LeftDockWidgetArea),
            self._dock("Instances", "instancesDock", self.instance_table, Qt.RightDockWidgetArea),
            self._dock("Display", "displayDock", self.display, Qt.RightDockWidgetArea),
        ]

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.pos_label = QLabel("")
        self.pixel_label = QLabel("")
        self.model_label = QLabel("no model")
        self.state_label = QLabel("idle")
        self.progress = QProgressBar()
        self.progress.setObjectName("predictAllProgress")
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setVisible(False)
        for w in (self.pos_label, self.pixel_label):
            sb.addWidget(w)
        for w in (self.progress, self.cancel_button, self.state_label, self.model_label):
            sb.addPermanentWidget(w)

    def _build_menus_and_toolbar(self) -> None:
        a = self.actions_
        mb = self.menuBar()
        menus = {}
        for name in ("File", "Edit", "Tools", "Review", "Model", "View", "Help"):
            menus[name] = mb.addMenu(f"&{name}")
        f = menus["File"]
        f.addActions([a["actionOpen"], a["actionOpenFolder"]])
        self.recent_menu = f.addMenu("Open &Recent")
        f.addSeparator()
        f.addActions([a["actionSave"], a["actionSaveAs"], a["actionAutosave"]])
        f.addSeparator()
        f.addAction(a["actionQuit"])
        menus["Edit"].addActions([a["actionUndo"], a["actionRedo"], a["actionHistory"]])
        r = menus["Review"]
        r.addActions([a[n] for n in ("actionAccept", "actionReject", "actionToggleHidden",
                                     "actionNextInstance", "actionPrevInstance")])
        r.addSeparator()
        r.addActions([a[n] for n in ("actionMarkDone", "actionNextImage", "actionPrevImage",
                                     "actionNextUnreviewed")])
        m = menus["Model"]
        m.addActions([a[n] for n in ("actionPredict", "actionPredictAll", "actionPredictAllImages",
                                     "actionCancel")])
        m.addSeparator()
        m.addActions([a["actionFineTune"], a["actionCancelTraining"]])
        m.addSeparator()
        m.addAction(a["actionAutoPredict"])
        m.addAction(a["actionOpenCheckpoint"])
        self.versions_menu = m.addMenu("Model &versions")
        a["actionCancelTraining"].setEnabled(False)
        v = menus["View"]
        v.addActions([a[n] for n in ("actionFit", "actionActualSize", "actionToggleLabels",
                                     "actionColorByClass")])
        v.addSeparator()
        self.view_menu = v
        for dock in self.docks:
            v.addAction(dock.toggleViewAction())
        menus["Help"].addActions([a["actionShortcuts"], a["actionAbout"]])
        self.menus = menus
        style = self.style()
        for name, icon in TOOLBAR_ICONS.items():
            a[name].setIcon(style.standardIcon(icon))
        tb = QToolBar("Main")
        tb.setObjectName("mainToolBar")
        tb.setToolButtonStyle(Qt.ToolButtonIconOnly)
        self.addToolBar(tb)
        tb.addActions([a["actionOpen"], a["actionSave"], a["actionUndo"], a["actionRedo"]])
        tb.addSeparator()
        tb.addActions([a["actionPrevImage"], a["actionNextImage"], a["actionAccept"],
                       a["actionReject"], a["actionMarkDone"]])
        tb.addSeparator()
        tb.addActions([a["actionPredict"], a["actionPredictAll"], a["actionCancel"]])
        mt = QToolBar("Model")
        mt.setObjectName("modelToolBar")
        self.addToolBar(mt)
        mt.addWidget(QLabel(" Weights "))
        mt.addWidget(self.model_panel.weights_combo)
        mt.addWidget(QLabel(" Device "))
        mt.addWidget(self.model_panel.device_combo)
        self.cancel_button.setDefaultAction(a["actionCancel"])
        self._rebuild_recent()

    def _build_tools_menu(self) -> None:
        a, t = self.actions_, self.menus["Tools"]
        t.addActions([a[n] for n in ("actionSelectTool", "actionBrush", "actionEraser",
                                     "actionPolygon")])
        t.addSeparator()
        t.addActions([a[n] for n in ("actionNewInstance", "actionDeleteInstance",
                                     "actionPickClass", "actionBrushSmaller",
                                     "actionBrushLarger", "actionUnoccupied")])
        t.addSeparator()
        t.addActions([a[n] for n in ("actionFillHoles", "actionRemoveIslands", "actionMerge")])
        t.addSeparator()
        t.addAction(a["actionCategories"])

    # ------------------------------------------------------------------ signals
    def _connect(self) -> None:
        a, doc, inf = self.actions_, self.doc, self.inference
        a["actionOpen"].triggered.connect(self.open_file_dialog)
        a["actionOpenFolder"].triggered.connect(self.open_folder_dialog)
        a["actionSave"].triggered.connect(self.save)
        a["actionSaveAs"].triggered.connect(lambda: self.save(ask=True))
        a["actionQuit"].triggered.connect(self.close)
        a["actionAutosave"].triggered.connect(self.ask_autosave_interval)
        a["actionAccept"].triggered.connect(lambda: self.review_selected("accepted"))
        a["actionReject"].triggered.connect(lambda: self.review_selected("rejected"))
        a["actionToggleHidden"].triggered.connect(self.toggle_hidden)
        a["actionNextInstance"].triggered.connect(lambda: self.step_instance(1))
        a["actionPrevInstance"].triggered.connect(lambda: self.step_instance(-1))
        a["actionMarkDone"].triggered.connect(self.mark_done)
        a["actionNextImage"].triggered.connect(lambda: self.step_image(1))
        a["actionPrevImage"].triggered.connect(lambda: self.step_image(-1))
        a["actionNextUnreviewed"].triggered.connect(self.next_unreviewed)
        a["actionPredict"].triggered.connect(lambda: inf.predict_current(True))
        a["actionPredictAll"].triggered.connect(lambda: inf.predict_all(False))
        a["actionPredictAllImages"].triggered.connect(lambda: inf.predict_all(True))
        a["actionCancel"].triggered.connect(inf.cancel)
        a["actionAutoPredict"].toggled.connect(self._set_auto_predict)
        a["actionOpenCheckpoint"].triggered.connect(self.model_panel.open_checkpoint_dialog)
        a["actionFit"].triggered.connect(self.canvas.fit)
        a["actionActualSize"].triggered.connect(self.canvas.actual_size)
        a["actionToggleLabels"].toggled.connect(self.display.labels.setChecked)
        a["actionColorByClass"].toggled.connect(self.display.by_class.setChecked)
        a["actionShortcuts"].triggered.connect(self.show_shortcuts)
        a["actionAbout"].triggered.connect(self.show_about)
        self.display.thresholdChanged.connect(doc.set_threshold)
        self.display.opacityChanged.connect(self.canvas.set_opacity)
        self.display.adjustChanged.connect(self.canvas.set_display_adjust)
        self.display.colorByClassChanged.connect(self._on_color_by_class)
        self.display.labelsChanged.connect(self._on_labels)
        self.image_panel.rowActivated.connect(doc.set_row)
        self.canvas.cursorMoved.connect(self._on_cursor)
        doc.dirtyChanged.connect(lambda _d: self._update_title())
        doc.currentChanged.connect(lambda _r: self._on_current_changed())
        inf.pixelsReady.connect(self._on_pixels)
        inf.pixelsFailed.connect(self._on_pixels_failed)
        inf.stateChanged.connect(self.state_label.setText)
        inf.modelChanged.connect(self.model_label.setText)
        self.session.opened.connect(lambda _n: self._update_title())
        self.session.saved.connect(lambda p: self.statusBar().showMessage(f"Saved {p}", 5000))

    def _set_auto_predict(self, on: bool) -> None:
        self.inference.auto_predict = on
        if on:
            self.inference._maybe_auto_predict()

    def _on_color_by_class(self, on: bool) -> None:
        self.actions_["actionColorByClass"].setChecked(on)
        self.canvas.set_color_by_class(on)

    def _on_labels(self, on: bool) -> None:
        self.actions_["actionToggleLabels"].setChecked(on)
        self.canvas.set_show_labels(on)

    # -------------------------------------------------------------------- files
    def open_path(self, path, image_root=None) -> bool:
        """Open an image, folder or COCO file; a bad one gets a message, nothing else changes."""
        if not self.maybe_save():
            return False
        try:
            ds = self.session.open(Path(path), Path(image_root) if image_root else None)
        except Exception as e:  # CocoFormatError, ImageReadError, FileNotFoundError, OSError
            self.notifier.error("Cannot open", str(e))
            return False
        for w in ds.warnings:
            self.statusBar().showMessage(w, 10000)
        if ds.warnings:
            self.notifier.error("Problems in the file", "\n".join(ds.warnings[:12]))
        self.canvas.clear_image()
        self._remember_recent(Path(path).resolve())
        self.settings.setValue("last_folder", str(Path(path).resolve().parent))
        recovery = self.session.pending_recovery()
        if recovery is not None:
            answer = self.notifier.ask(
                "Recover unsaved work?",
                f"MaskLoop found unsaved changes from an earlier session that did not close "
                f"normally:\n{recovery}\n\nRestore them?", ["Restore", "Discard"], "Restore")
            if answer == "Restore":
                self.session.restore(recovery)
            else:
                recovery.unlink(missing_ok=True)
        self._update_title()
        return True

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image or COCO file", self.settings.value("last_folder", ""),
            "Images or COCO JSON (*.json *.jpg *.jpeg *.png *.tif *.tiff *.bmp *.webp);;All files (*)")
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open folder of images",
                                                self.settings.value("last_folder", ""))
        if path:
            self.open_path(path)

    def ask_save_path(self, default: Path) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self, "Save COCO file", str(default),
                                              "COCO JSON (*.json)")
        return Path(path) if path else None

    def save(self, ask: bool = False) -> bool:
        if self.doc.dataset is None:
            return False
        path = self.doc.coco_path
        if ask or path is None:
            path = self.ask_save_path(self.session.default_save_path())
            if path is None:
                return False
        try:
            self.session.save(path)
        except Exception as e:  # disk full, permissions, unreadable image size
            self.notifier.error("Save failed", f"{path}: {e}\n\nYour changes are still here, "
                                "and the autosave copy is kept.")
            return False
        self._remember_recent(Path(path).resolve())
        self._update_title()
        return True

    def ask_autosave_interval(self) -> None:
        seconds, ok = QInputDialog.getInt(
            self, "Autosave", "Copy unsaved work to the recovery file every N seconds (0: off):",
            self.session.interval, 0, 3600, 10)
        if ok:
            self.set_autosave_interval(seconds)

    def set_autosave_interval(self, seconds: int) -> None:
        self.session.set_autosave_interval(seconds)
        self.settings.setValue("autosave_seconds", seconds)

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

    def _remember_recent(self, path: Path) -> None:
        recent = [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent", [str(path)] + recent[:MAX_RECENT - 1])
        self._rebuild_recent()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _c=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.open_path(urls[0])

    # ------------------------------------------------------------------- review
    def review_selected(self, review: str) -> None:
        rec, inst = self.doc.current, self.doc.selected
        if rec is None:
            return
        if inst is None:
            self.step_instance(1)
            return
        self.doc.undo_stack.push(review_command(self.doc, rec, [inst], review))
        nxt = next((i for i in self.doc.listed(rec) if i.review == "unreviewed"
                    and id(i) not in self.doc.hidden), None)
        self.doc.select(nxt if nxt is not None else inst)

    def toggle_hidden(self) -> None:
        inst = self.doc.selected
        if inst is not None:
            self.doc.set_hidden(inst, id(inst) not in self.doc.hidden)
            self.instance_table.rebuild()

    def step_instance(self, step: int) -> None:
        rec = self.doc.current
        if rec is None:
            return
        items = self.doc.listed(rec)
        if not items:
            return
        cur = next((k for k, i in enumerate(items) if i is self.doc.selected), None)
        k = 0 if cur is None and step > 0 else (len(items) - 1 if cur is None else (cur + step) % len(items))
        self.doc.select(items[k])

    def mark_done(self) -> None:
        rec = self.doc.current
        if rec is None:
            return
        self.doc.undo_stack.push(status_command(self.doc, rec, rec.status != "done"))
        if rec.status == "done":
            self.next_unreviewed()

    def step_image(self, step: int) -> None:
        if self.doc.dataset is not None:
            self.doc.set_row(min(max(self.doc.row + step, 0), len(self.doc.dataset.images) - 1))

    def next_unreviewed(self) -> None:
        ds = self.doc.dataset
        if ds is None or not ds.images:
            return
        n = len(ds.images)
        for k in range(1, n + 1):
            row = (self.doc.row + k) % n
            if ds.images[row].status != "done":
                self.doc.set_row(row)
                return
        self.statusBar().showMessage("Every image is done.", 5000)

    # ------------------------------------------------------------------ canvas
    def _on_current_changed(self) -> None:
        rec = self.doc.current
        if rec is not None and rec.id != self.canvas.image_id:
            self.statusBar().showMessage(f"Loading {rec.file_name}…", 2000)

    def _on_pixels(self, image_id: int, rgb, bgra) -> None:
        self.canvas.set_image(image_id, rgb, bgra)
        self._update_title()

    def _on_pixels_failed(self, image_id: int, message: str) -> None:
        self.canvas.clear_image()
        self.notifier.error("Cannot show image", message)

    def _on_cursor(self, x: int, y: int) -> None:
        if x < 0 or self.canvas.rgb is None:
            self.pos_label.setText("")
            self.pixel_label.setText("")
            return
        r, g, b = self.canvas.rgb[y, x]
        self.pos_label.setText(f"x {x}  y {y}")
        self.pixel_label.setText(f"RGB {r} {g} {b}")

    def _update_title(self) -> None:
        name = self.session.display_name() if self.doc.dataset is not None else ""
        star = "*" if self.doc.dirty else ""
        rec = self.doc.current
        where = f" — {rec.file_name}" if rec is not None else ""
        self.setWindowTitle(f"{name}{star}{where} — MaskLoop" if name else "MaskLoop")

    # -------------------------------------------------------------------- help
    def show_shortcuts(self) -> None:
        box = QMessageBox(QMessageBox.NoIcon, "Keyboard shortcuts", shortcuts_html(),
                          QMessageBox.Ok, self)
        box.setObjectName("shortcutsDialog")
        box.setTextFormat(Qt.RichText)
        box.open()

    def show_about(self) -> None:
        self.notifier.info("About MaskLoop", "MaskLoop: predict, review, correct, fine-tune, "
                           "predict again. Mask R-CNN by torchvision; Qt by PySide6.")

    # ----------------------------------------------------------------- settings
    def _restore_settings(self) -> None:
        geo = self.settings.value("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1400, 900)
            self.resizeDocks([self.docks[0], self.docks[1]], [300, 340], Qt.Horizontal)
        state = self.settings.value("window_state")
        if state is not None:
            self.restoreState(state)
        auto = str(self.settings.value("auto_predict", "true")).lower() == "true"
        self.actions_["actionAutoPredict"].setChecked(auto)
        self.inference.auto_predict = auto
        labels = str(self.settings.value("labels", "true")).lower() == "true"
        self.display.labels.setChecked(labels)
        self.actions_["actionToggleLabels"].setChecked(labels)
        by_class = str(self.settings.value("color_by_class", "false")).lower() == "true"
        self.display.by_class.setChecked(by_class)
        self.canvas.set_opacity(self.display.opacity.value() / 100)
        self.doc.set_threshold(self.display.threshold.value() / 100)

    def _store_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("window_state", self.saveState())
        s.setValue("opacity", self.display.opacity.value() / 100)
        s.setValue("threshold", self.display.threshold.value() / 100)
        s.setValue("labels", self.display.labels.isChecked())
        s.setValue("color_by_class", self.display.by_class.isChecked())
        s.setValue("auto_predict", self.actions_["actionAutoPredict"].isChecked())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.finetune.process.running:
            answer = self.notifier.ask("Training is running",
                                       "Stop fine-tuning and quit? Its last checkpoint is kept.",
                                       ["Stop and quit", "Keep working"], "Keep working")
            if answer != "Stop and quit":
                event.ignore()
                return
        if not self.maybe_save():
            event.ignore()
            return
        self.finetune.shutdown()
        self._store_settings()
        self.session.timer.stop()
        self.state_label.setText("stopping…")
        self.inference.shutdown()
        self.notifier.close_all()
        if self.doc.dataset is not None and not self.doc.dirty:
            self.session.discard_recovery()
        event.accept()
