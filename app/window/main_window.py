"""MainWindow: layout and wiring only. The Document holds the data and its one
writer, the Session the files, the InferenceController the threads, ModelSelection
the current model; the controllers get those, never the window."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QToolBar

from ..canvas.view import CanvasView
from ..document.document import Document
from ..document.history import UndoBudget
from ..document.session import Session
from ..inference.inference_controller import InferenceController
from ..inference.selection import ModelSelection
from ..inference.workers import default_factory
from ..notify import Notifier
from ..panels.display_panel import DisplayPanel
from ..panels.evaluation_dock import EvaluationPanel
from ..panels.gate_status import GateStatus
from ..panels.image_list import ImageListPanel
from ..panels.instance_list import InstanceTable
from ..panels.rounds_dock import RoundsPanel
from ..settings import Settings
from ..training.finetune_controller import FineTuneController
from ..training.learn_controller import LearnController
from .evaluation_controller import EvaluationController
from ..training.widgets import TrainingPanel
from .action_table import build_actions, build_menus, build_toolbars
from .docks import bind_dock, first_geometry, show_dock, sync_check
from .toolbox import Toolbox
from .export_dialog import ExportController
from .files import FileController
from .hints import StatusHints
from .model_controls import ModelControls
from .review_controller import ReviewController
from .suspects_controller import SuspectsController
from .shortcuts import ShortcutDialog, apply_keys, effective_keys


class MainWindow(QMainWindow):
    hint = Signal(str)  # the window's own status hints (waiting for the model to fill boxes)

    def __init__(self, settings: QSettings | None = None, factory=default_factory,
                 reader=None, weights: str | None = None, device: str | None = None,
                 min_size: int | None = None, max_size: int | None = None,
                 load_model: bool = True):
        super().__init__()
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        self.prefs = Settings.load(settings or QSettings("MaskLoop", "MaskLoop"))
        self.notifier = Notifier(self)
        self.doc = Document(self)
        self.doc.restore_threshold(self.prefs.threshold, self.prefs.auto_threshold)
        self.session = Session(self.doc, self.prefs.autosave_seconds)
        self.selection = ModelSelection(weights or self.prefs.weights,
                                        device or self.prefs.device, min_size, max_size)
        self.inference = InferenceController(self.doc, self.notifier, factory, reader)
        self._factory, self._reader = factory, reader  # the evaluation loads its own model
        self.budget = UndoBudget(self.doc.undo_stack)
        self.canvas = CanvasView(self.doc)
        self.setCentralWidget(self.canvas)
        self.actions_ = build_actions(self)
        keys, self.shortcut_notes = effective_keys(self.prefs.shortcuts)
        apply_keys(self.actions_, keys)  # the user's keys over the table's
        self.shortcut_dialog: ShortcutDialog | None = None
        self.menus, subs = build_menus(self.menuBar(), self.actions_)
        self.versions_menu = subs["versions_menu"]
        self.toolbars = build_toolbars(self.actions_)
        for name, tb in self.toolbars.items():
            if name == "optionsToolBar":
                self.addToolBarBreak()  # the second row: tool options, then the model's
            self.addToolBar(Qt.TopToolBarArea, tb)
        self.files = FileController(self.doc, self.session, self.notifier, self.prefs, self,
                                    subs["recent_menu"])
        self.exporter = ExportController(self.doc, self.session, self.notifier, self)
        self.model_controls = ModelControls(self.selection, self.inference, self.notifier, self.prefs,
                                      self)
        self.toolbox = Toolbox(self.doc, self.canvas, self.actions_,
                                 self.toolbars["optionsToolBar"], self, self.inference)
        self.training_panel = TrainingPanel()
        self.finetune = FineTuneController(self.doc, self.session, self.selection,
                                           self.inference, self.notifier, self.training_panel,
                                           self, self.versions_menu)
        self.learn = LearnController(self.doc, self.session, self.selection, self.notifier,
                                     self.training_panel, self.finetune)
        self.model_controls.describe = self.finetune.version_name
        self.finetune.versionsChanged.connect(lambda versions: self.model_controls.list_versions(
            [(v["name"], v["checkpoint"]) for v in versions]))
        self._build_docks()
        self.review = ReviewController(self.doc, self.doc.queue)  # the list's, the prefetch's
        self.suspects = SuspectsController(self.doc, self.canvas, self.image_panel, self)
        self._build_status_bar()
        self._build_model_toolbar()
        self._connect()
        self._restore_settings()
        self.finetune.rebuild_versions_menu()
        self._update_title()
        if self.shortcut_notes:
            self.statusBar().showMessage("; ".join(self.shortcut_notes), 15_000)
        if load_model:
            self.inference.set_model(self.selection.spec)

    # ------------------------------------------------------------------ layout
    def _dock(self, title: str, name: str, widget, area, visible: bool = True) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        dock.setVisible(visible)
        return dock

    def _build_docks(self) -> None:
        self.image_panel = ImageListPanel(self.doc)
        self.instance_table = InstanceTable(self.doc)
        self.display = DisplayPanel(self.doc.own_threshold, self.prefs.opacity)
        self.display.show_auto(self.doc.auto)
        self.docks = [
            self._dock("Images", "imagesDock", self.image_panel, Qt.LeftDockWidgetArea),
            self._dock("Instances", "instancesDock", self.instance_table, Qt.RightDockWidgetArea),
            self._dock("Display", "displayDock", self.display, Qt.RightDockWidgetArea),
        ]
        self.history_dock = self._dock("History", "historyDock", self.toolbox.history_view,
                                       Qt.RightDockWidgetArea, visible=False)
        self.training_dock = self._dock("Training", "trainingDock", self.training_panel,
                                        Qt.RightDockWidgetArea, visible=False)
        self.rounds_panel = RoundsPanel(
            self.doc, lambda: [v["name"] for v in self.finetune.versions()],
            lambda: [v["name"] for v in self.finetune.versions() if v.get("swapped_in")])
        self.rounds_dock = self._dock("Rounds", "roundsDock", self.rounds_panel,
                                      Qt.RightDockWidgetArea, visible=False)
        self.evaluation_panel = EvaluationPanel()
        self.evaluation_dock = self._dock("Evaluation", "evaluationDock", self.evaluation_panel,
                                          Qt.RightDockWidgetArea, visible=False)
        self.evaluation = EvaluationController(self.evaluation_panel, self.image_panel,
                                               self.finetune, self.doc, self.inference,
                                               self.notifier, self._factory, self._reader)
        # one tab group under the instance list, so opening one never squeezes the list
        for dock in (self.history_dock, self.training_dock, self.rounds_dock,
                     self.evaluation_dock):
            self.tabifyDockWidget(self.docks[2], dock)
        self.docks[2].raise_()
        self.dock_actions = {dock: self.actions_[name] for dock, name in (
            (self.docks[0], "actionImagesDock"), (self.docks[1], "actionInstancesDock"),
            (self.docks[2], "actionDisplayDock"), (self.history_dock, "actionHistory"),
            (self.training_dock, "actionTrainingDock"), (self.rounds_dock, "actionRounds"),
            (self.evaluation_dock, "actionEvaluationDock"))}
        for dock, action in self.dock_actions.items():
            bind_dock(dock, action)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.pos_label = QLabel("")
        self.pixel_label = QLabel("")
        self.model_label = QLabel("no model")
        self.state_label = QLabel("idle")
        self.progress = self.model_controls.progress
        self.cancel_button = self.model_controls.cancel_button
        self.cancel_button.setDefaultAction(self.actions_["actionCancel"])
        self.gate_status = GateStatus(self.doc)
        for w in (self.pos_label, self.pixel_label):
            sb.addWidget(w)
        for w in (self.gate_status, self.progress, self.cancel_button, self.state_label,
                  self.model_label):
            sb.addPermanentWidget(w)

    def _build_model_toolbar(self) -> None:
        mt = QToolBar("Model")
        mt.setObjectName("modelToolBar")
        self.addToolBar(mt)  # beside the tool options, on the second row
        mt.addWidget(QLabel(" Weights "))
        mt.addWidget(self.model_controls.weights_combo)
        mt.addWidget(QLabel(" Device "))
        mt.addWidget(self.model_controls.device_combo)

    # ------------------------------------------------------------------ signals
    def _connect(self) -> None:
        a, doc, inf, rv, fl = self.actions_, self.doc, self.inference, self.review, self.files
        show = self.statusBar().showMessage
        for name, slot in {
            "actionOpen": fl.open_file_dialog, "actionOpenFolder": fl.open_folder_dialog,
            "actionSave": lambda: fl.save(), "actionSaveAs": lambda: fl.save(ask=True),
            "actionExport": self.exporter.ask_and_export,
            "actionQuit": self.close, "actionAutosave": fl.ask_autosave_interval,
            "actionUndo": doc.undo, "actionRedo": doc.redo,
            "actionAccept": lambda: self.suspects.keep() if self.suspects.active
            else rv.review_selected("accepted"),
            "actionReject": lambda: self.suspects.take() if self.suspects.active
            else rv.review_selected("rejected"),
            "actionRejectAll": rv.reject_all,
            "actionLoadSuspects": self.suspects.load_dialog,
            "actionEvaluateDone": self.evaluation.evaluate_done,
            "actionToggleHidden": rv.toggle_hidden,
            "actionNextInstance": lambda: rv.step_instance(1),
            "actionPrevInstance": lambda: rv.step_instance(-1),
            "actionMarkDone": rv.mark_done, "actionNextImage": lambda: rv.step_image(1),
            "actionPrevImage": lambda: rv.step_image(-1),
            "actionNextUnreviewed": rv.next_unreviewed, "actionReviewHidden": rv.review_hidden,
            "actionPredict": lambda: inf.predict_current(explicit=True),
            "actionPredictAll": lambda: inf.predict_all(False),
            "actionPredictAllImages": lambda: inf.predict_all(True),
            "actionCancel": inf.cancel, "actionFineTune": self.finetune.ask_and_start,
            "actionCancelTraining": self.finetune.cancel,
            "actionOpenCheckpoint": self.model_controls.open_checkpoint_dialog,
            "actionFit": self.canvas.fit, "actionActualSize": self.canvas.actual_size,
            "actionZoomIn": lambda: self.canvas.zoom_step(1),
            "actionZoomOut": lambda: self.canvas.zoom_step(-1),
            "actionShortcuts": self.show_shortcuts, "actionAbout": self.show_about,
        }.items():
            a[name].triggered.connect(slot)
        stack = doc.undo_stack
        a["actionUndo"].setEnabled(False)
        a["actionRedo"].setEnabled(False)
        stack.canUndoChanged.connect(a["actionUndo"].setEnabled)
        stack.canRedoChanged.connect(a["actionRedo"].setEnabled)
        stack.undoTextChanged.connect(lambda t: a["actionUndo"].setText(f"&Undo {t}".strip()))
        stack.redoTextChanged.connect(lambda t: a["actionRedo"].setText(f"&Redo {t}".strip()))
        # Tab is no shortcut: the canvas and the instance list step with it themselves
        tab_step = (lambda forward: a["actionNextInstance" if forward
                                      else "actionPrevInstance"].trigger())
        self.canvas.tab_step = self.instance_table.tab_step = tab_step
        self.evaluation_panel.evaluate_button.setDefaultAction(a["actionEvaluateDone"])
        self.evaluation.started.connect(self._show_evaluation)
        a["actionCancelTraining"].setEnabled(False)
        self.finetune.runningChanged.connect(a["actionCancelTraining"].setEnabled)
        self.finetune.runningChanged.connect(self._on_training_running)
        a["actionLearn"].toggled.connect(self.learn.set_enabled)
        self.learn.turnedOff.connect(lambda: a["actionLearn"].setChecked(False))
        self.learn.runningChanged.connect(self._on_training_running)
        self.learn.swapped.connect(lambda v: self.rounds_panel.later())
        self.learn.swapped.connect(lambda v: show(
            f"Learning: {v['name']} is the model in use now (held-out segm AP "
            f"{v['held_out_ap']:.3f}); predicting the unreviewed images again", 10_000))
        a["actionAutoPredict"].toggled.connect(self._set_auto_predict)
        a["actionToggleLabels"].toggled.connect(self.display.labels.setChecked)
        a["actionColorByClass"].toggled.connect(self.display.by_class.setChecked)
        self.display.thresholdChanged.connect(doc.set_threshold)
        doc.thresholdChanged.connect(self.display.show_threshold)
        self.display.autoChanged.connect(doc.set_auto)
        doc.autoChanged.connect(self.display.show_auto)
        self.display.opacityChanged.connect(self.canvas.set_opacity)
        self.display.adjustChanged.connect(self.canvas.set_display_adjust)
        self.display.colorByClassChanged.connect(self._on_color_by_class)
        self.display.labelsChanged.connect(self._on_labels)
        self.image_panel.rowActivated.connect(doc.set_row)
        self.image_panel.noneListed.connect(doc.show_none)
        self.canvas.cursorMoved.connect(self._on_cursor)
        self.selection.changed.connect(inf.set_model)
        doc.dirtyChanged.connect(lambda _d: self._update_title())
        doc.currentChanged.connect(lambda _r: self._update_title())
        fl.titleChanged.connect(self._update_title)
        self.session.opened.connect(lambda _n: self._update_title())
        self.session.opened.connect(lambda _n: self.model_controls.show_selection())
        inf.pixelsReady.connect(self.canvas.set_image)
        inf.pixelsFailed.connect(self._on_pixels_failed)
        inf.pixels.unreadable.connect(self.image_panel.model.set_problem)
        inf.pixels.sizeMismatch.connect(lambda _i, msg: self.notifier.error("Image size mismatch",
                                                                            msg))
        inf.stateChanged.connect(self.state_label.setText)
        inf.modelChanged.connect(self.model_label.setText)
        inf.modelReady.connect(lambda i: show(f"Model ready: {i.model_id} on {i.device}", 5000))
        for source in (doc.historyMoved, rv.message, inf.message, self.session.message,
                       self.toolbox.message, self.suspects.message, self.evaluation.message):
            source.connect(lambda text: show(text, 8000))
        fl.message.connect(show)
        self.hints = StatusHints(self.statusBar())
        for source, signal in (("tools", self.toolbox.hint), ("assist", self.toolbox.assist.hint),
                               ("model", inf.hint), ("window", self.hint)):
            self.hints.attach(source, signal)
        self.exporter.message.connect(show)
        fl.fillBoxes.connect(self._fill_boxes)
        self.session.writeFailed.connect(lambda text: show(text, 0))  # stays until replaced
        self.session.stateMoved.connect(
            lambda text: self.notifier.warning("Dataset state kept elsewhere", text))
        inf.predictionSkipped.connect(lambda _i, why: show(why, 6000))

    def _set_auto_predict(self, on: bool) -> None:
        self.inference.auto_predict = on
        self.prefs.auto_predict = on
        if on:
            self.inference.maybe_auto_predict()

    def _fill_boxes(self, use_model: bool) -> None:
        if use_model and self.inference.loading:  # wait for the model: ask again once ready
            self.inference.modelReady.connect(self._fill_when_ready)
            self.hint.emit("The model is loading; filling the boxes once it is ready")
            return
        self.toolbox.assist.fill_boxes(use_model)

    def _fill_when_ready(self, _info) -> None:
        self.inference.modelReady.disconnect(self._fill_when_ready)
        self.hint.emit("")
        self.toolbox.assist.fill_boxes(True)

    def _show_evaluation(self) -> None:
        """Raise the dock in its tab group, which keeps its size: the instance list
        keeps its rows (the dock's pages fit; drag its edge or float it for more)."""
        show_dock(self.evaluation_dock)

    def _on_training_running(self, running: bool) -> None:
        if running:
            show_dock(self.training_dock)

    def _on_color_by_class(self, on: bool) -> None:
        self.actions_["actionColorByClass"].setChecked(on)
        self.canvas.set_color_by_class(on)

    def _on_labels(self, on: bool) -> None:
        self.actions_["actionToggleLabels"].setChecked(on)
        self.canvas.set_show_labels(on)

    def _on_pixels_failed(self, image_id: int, message: str) -> None:
        """No dialog: the canvas and the status bar say it, the image list marks it."""
        rec = self.doc.image_record(image_id)
        name = rec.file_name if rec is not None else f"image {image_id}"
        why = message
        try:  # the reason, without the full path the message starts with
            why = message.removeprefix(f"{self.doc.dataset.image_path(rec)}: ")
        except Exception:
            pass
        self.canvas.clear_image(f"{name} cannot be read:\n{why}")
        self.statusBar().showMessage(f"{name} cannot be read: {why}", 15_000)

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

    # ------------------------------------------------------------- public API
    def open_path(self, path, image_root=None) -> bool:
        return self.files.open_path(path, image_root)

    def save(self, ask: bool = False) -> bool:
        return self.files.save(ask)

    def keyPressEvent(self, event) -> None:
        """Esc that no widget took (the canvas's tools take theirs first)."""
        if event.key() == Qt.Key_Escape and not event.modifiers() and self.toolbox.escape():
            event.accept()
            return
        super().keyPressEvent(event)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.files.open_dropped(paths)

    def show_shortcuts(self) -> None:
        """Every key, changeable (window-modal, so no shortcut fires while keys are typed)."""
        old = self.shortcut_dialog
        if old is not None and old.isVisible():
            old.raise_()
            old.activateWindow()
            return
        if old is not None:
            old.deleteLater()
        self.shortcut_dialog = ShortcutDialog(self.actions_, self.prefs, self)
        self.shortcut_dialog.open()

    def show_about(self) -> None:
        self.notifier.info("About MaskLoop", "MaskLoop: predict, review, correct, fine-tune, "
                           "predict again. Mask R-CNN by torchvision; Qt by PySide6.")

    # ----------------------------------------------------------------- settings
    def _restore_settings(self) -> None:
        p = self.prefs
        if p.geometry is not None:
            self.restoreGeometry(p.geometry)
        else:  # a first start: as large as the screen has room for, up to 1400x900
            screen = self.screen()
            first = first_geometry(screen.availableGeometry()) if screen is not None \
                else QRect(0, 0, 1400, 900)
            self.move(first.topLeft())
            self.resize(first.size())
            self.resizeDocks([self.docks[0], self.docks[1]], [300, 340], Qt.Horizontal)
            self.resizeDocks([self.docks[1], self.docks[2]], [600, 240], Qt.Vertical)
        if p.window_state is not None:
            self.restoreState(p.window_state)
            for dock, action in self.dock_actions.items():
                sync_check(dock, action)
        self.actions_["actionAutoPredict"].setChecked(p.auto_predict)
        self.inference.auto_predict = p.auto_predict
        self.display.labels.setChecked(p.labels)
        self.actions_["actionToggleLabels"].setChecked(p.labels)
        self.display.by_class.setChecked(p.color_by_class)
        self.canvas.set_opacity(p.opacity)

    def _store_settings(self) -> None:
        p = self.prefs
        p.geometry, p.window_state = self.saveGeometry(), self.saveState()
        p.opacity = self.display.opacity.value() / 100
        p.threshold = self.doc.own_threshold
        p.auto_threshold = self.doc.auto
        p.labels = self.display.labels.isChecked()
        p.color_by_class = self.display.by_class.isChecked()
        p.save()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.finetune.process.running:
            answer = self.notifier.ask("Training is running",
                                       "Stop fine-tuning and quit? Its last checkpoint is kept.",
                                       ["Stop and quit", "Keep working"], "Keep working")
            if answer != "Stop and quit":
                event.ignore()
                return
        if not self.files.maybe_save():
            event.ignore()
            return
        self.finetune.shutdown()
        self.learn.shutdown()
        self._store_settings()
        self.session.close()
        self.state_label.setText("stopping…")
        self.evaluation.shutdown()
        self.inference.shutdown()
        self.notifier.close_all()
        if self.doc.dataset is not None and not self.doc.dirty:
            self.session.discard_recovery()
        event.accept()
