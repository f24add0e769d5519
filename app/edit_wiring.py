"""Wires the editing tools into the main window: tool actions, the tools toolbar
(brush size, class picker), class keys 1-9, clean-ups, categories and history."""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QInputDialog, QSpinBox, QToolBar, QUndoView

from .canvas.tools import BrushTool, PolygonTool
from .categories import CategoryManager, ClassPicker
from .commands import (delete_command, fill_holes_command, merge_command, relabel_command,
                       remove_islands_command)
from .editing import EditController
from .edits import UndoBudget


class EditWiring(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win, self.doc, a = win, win.doc, win.actions_
        self.edit = EditController(self.doc)
        self.budget = UndoBudget(self.doc.undo_stack)
        canvas = win.canvas
        self.tools = {"actionSelectTool": None,
                      "actionBrush": BrushTool(canvas, self.edit, erase=False),
                      "actionEraser": BrushTool(canvas, self.edit, erase=True),
                      "actionPolygon": PolygonTool(canvas, self.edit)}
        group = QActionGroup(self)
        group.setExclusive(True)
        for name in self.tools:
            group.addAction(a[name])
            a[name].triggered.connect(lambda _c=False, n=name: self.use_tool(n))
        a["actionSelectTool"].setChecked(True)
        self.island_px = 50
        self._build_toolbar()
        self._build_history()
        self._class_actions()
        a["actionNewInstance"].triggered.connect(self.new_instance)
        a["actionDeleteInstance"].triggered.connect(self.delete_selected)
        a["actionBrushSmaller"].triggered.connect(lambda: self.edit.set_brush_size(
            max(1, round(self.edit.brush_size / 1.25))))
        a["actionBrushLarger"].triggered.connect(lambda: self.edit.set_brush_size(
            max(self.edit.brush_size + 1, round(self.edit.brush_size * 1.25))))
        a["actionUnoccupied"].toggled.connect(lambda on: setattr(self.edit, "unoccupied", on))
        a["actionPickClass"].triggered.connect(self._focus_picker)
        a["actionFillHoles"].triggered.connect(self.fill_holes)
        a["actionRemoveIslands"].triggered.connect(self.ask_remove_islands)
        a["actionMerge"].triggered.connect(self.merge)
        a["actionCategories"].triggered.connect(self.show_categories)
        self.picker.picked.connect(self.pick_class)
        self.doc.selectionChanged.connect(self._on_selection)
        self.edit.categoryChanged.connect(lambda cid: self.doc.selected is None
                                          and self.picker.show_category(cid))

    # ------------------------------------------------------------------ layout
    def _build_toolbar(self) -> None:
        a = self.win.actions_
        tb = QToolBar("Tools")
        tb.setObjectName("toolsToolBar")
        self.win.addToolBar(Qt.TopToolBarArea, tb)
        tb.addActions([a[n] for n in ("actionSelectTool", "actionBrush", "actionEraser",
                                      "actionPolygon", "actionNewInstance",
                                      "actionDeleteInstance")])
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("brushSize")
        self.size_spin.setRange(1, 1000)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Brush diameter in image pixels ([ and ], or Ctrl+wheel)")
        self.size_spin.setValue(self.edit.brush_size)
        self.size_spin.valueChanged.connect(self.edit.set_brush_size)
        self.edit.brushSizeChanged.connect(self.size_spin.setValue)
        tb.addWidget(self.size_spin)
        self.picker = ClassPicker(self.doc)
        tb.addWidget(self.picker)
        tb.addAction(a["actionUnoccupied"])

    def _build_history(self) -> None:
        view = QUndoView(self.doc.undo_stack)
        view.setObjectName("historyView")
        view.setEmptyLabel("<opened>")
        dock = QDockWidget("History", self.win)
        dock.setObjectName("historyDock")
        dock.setWidget(view)
        self.win.addDockWidget(Qt.RightDockWidgetArea, dock)
        dock.hide()
        act = self.win.actions_["actionHistory"]
        act.toggled.connect(dock.setVisible)
        dock.visibilityChanged.connect(act.setChecked)
        self.history_dock = dock

    def _class_actions(self) -> None:
        self.class_actions = []
        for k in range(1, 10):
            act = QAction(f"Class {k}", self.win)
            act.setObjectName(f"actionClass{k}")
            act.setShortcut(QKeySequence(str(k)))
            act.triggered.connect(lambda _c=False, k=k: self.class_key(k))
            self.win.addAction(act)
            self.class_actions.append(act)

    # ------------------------------------------------------------------- tools
    def use_tool(self, name: str) -> None:
        self.win.actions_[name].setChecked(True)
        self.win.canvas.set_tool(self.tools[name])

    def new_instance(self) -> None:
        self.doc.select(None)
        self.edit.arm_new_instance(True)
        if self.win.canvas.tool is None:
            self.use_tool("actionBrush")
        self.win.statusBar().showMessage("Draw the new instance (brush or polygon)", 4000)

    def _focus_picker(self) -> None:
        self.picker.setFocus()
        self.picker.lineEdit().selectAll()

    def _on_selection(self, inst) -> None:
        self.picker.show_category(inst.category_id if inst is not None else self.edit.category_id)

    # -------------------------------------------------------------- commands
    def _push(self, cmd) -> None:
        if cmd is not None:
            self.doc.undo_stack.push(cmd)

    def delete_selected(self) -> None:
        rec = self.doc.current
        if rec is not None and self.doc.selection:
            self._push(delete_command(self.doc, rec, list(self.doc.selection)))

    def pick_class(self, category_id: int) -> None:
        rec = self.doc.current
        if rec is not None and self.doc.selection:
            self._push(relabel_command(self.doc, rec, list(self.doc.selection), category_id))
        else:
            self.edit.set_category(category_id)

    def class_key(self, k: int) -> None:
        cats = self.doc.dataset.categories if self.doc.dataset else []
        if k <= len(cats):
            self.pick_class(cats[k - 1].id)
            self.picker.show_category(cats[k - 1].id)

    def fill_holes(self) -> None:
        rec, inst = self.doc.current, self.doc.selected
        if rec is not None and inst is not None:
            self._push(fill_holes_command(self.doc, rec, inst))

    def ask_remove_islands(self) -> None:
        n, ok = QInputDialog.getInt(self.win, "Remove small islands",
                                    "Remove parts smaller than (pixels):", self.island_px, 1, 10**7)
        if ok:
            self.island_px = n
            self.remove_islands(n)

    def remove_islands(self, min_pixels: int) -> None:
        rec, inst = self.doc.current, self.doc.selected
        if rec is not None and inst is not None:
            self._push(remove_islands_command(self.doc, rec, inst, min_pixels))

    def merge(self) -> None:
        rec = self.doc.current
        if rec is not None and len(self.doc.selection) >= 2:
            self._push(merge_command(self.doc, rec, list(self.doc.selection)))
        else:
            self.win.statusBar().showMessage("Select two or more instances (Ctrl+click) to merge", 4000)

    def show_categories(self) -> None:
        if self.doc.dataset is not None:
            dlg = CategoryManager(self.doc, self.win)
            dlg.open()
            self.category_dialog = dlg
