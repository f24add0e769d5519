"""The editing tools in the window: tool actions, the tool options toolbar (brush
size, class picker, unoccupied, vertex tolerance), the Ctrl+K class popup, class
keys 1-9, clean-ups, categories and the history view."""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import (QDoubleSpinBox, QInputDialog, QLabel, QSpinBox, QToolBar, QUndoView,
                               QWidget)

from ..canvas.assist_tools import BoxTool, ClickTool, VertexTool
from ..canvas.tools import BrushTool, PolygonTool
from ..canvas.view import CanvasView
from ..document.document import Document
from ..document.drawing import DrawingController
from ..inference.assist_requests import AssistController
from ..inference.inference_controller import InferenceController
from ..panels.categories import CategoryManager, ClassPicker
from ..panels.class_popup import ClassPopup

TOOLS = ("actionSelectTool", "actionBrush", "actionEraser", "actionPolygon", "actionBoxToMask",
         "actionClickToSegment", "actionEditVertices")


class Toolbox(QObject):
    message = Signal(str)
    hint = Signal(str)  # while a new instance is armed ("": no longer)

    def __init__(self, doc: Document, canvas: CanvasView, actions: dict[str, QAction],
                 toolbar: QToolBar, dialog_parent: QWidget, inference: InferenceController):
        super().__init__()
        self.doc, self.canvas, self.actions, self.dialog_parent = doc, canvas, actions, dialog_parent
        self.drawing = DrawingController(doc)
        self.drawing.message.connect(self.message)
        self.assist = AssistController(doc, self.drawing, inference)
        self.assist.message.connect(self.message)
        self.drawing.newInstanceArmed.connect(lambda on: on or self.hint.emit(""))
        doc.currentChanged.connect(lambda _r: self.hint.emit(""))
        a = actions
        self.vertex_tool = VertexTool(canvas, self.drawing)
        self.tools = {"actionSelectTool": None,
                      "actionBrush": BrushTool(canvas, self.drawing, erase=False),
                      "actionEraser": BrushTool(canvas, self.drawing, erase=True),
                      "actionPolygon": PolygonTool(canvas, self.drawing),
                      "actionBoxToMask": BoxTool(canvas, self.drawing, self.assist),
                      "actionClickToSegment": ClickTool(canvas, self.drawing, self.assist),
                      "actionEditVertices": self.vertex_tool}
        group = QActionGroup(self)
        group.setExclusive(True)
        for name in TOOLS:
            group.addAction(a[name])
            a[name].triggered.connect(lambda _c=False, n=name: self.use_tool(n))
        a["actionSelectTool"].setChecked(True)
        self.island_px = 50
        self._build_toolbar(toolbar)
        self.history_view = QUndoView(doc.undo_stack)
        self.history_view.setObjectName("historyView")
        self.history_view.setEmptyLabel("<opened>")
        self._class_actions()
        a["actionNewInstance"].triggered.connect(self.new_instance)
        a["actionDeleteInstance"].triggered.connect(self.drawing.delete_selected)
        a["actionBrushSmaller"].triggered.connect(lambda: self.drawing.set_brush_size(
            max(1, round(self.drawing.brush_size / 1.25))))
        a["actionBrushLarger"].triggered.connect(lambda: self.drawing.set_brush_size(
            max(self.drawing.brush_size + 1, round(self.drawing.brush_size * 1.25))))
        a["actionUnoccupied"].toggled.connect(lambda on: setattr(self.drawing, "unoccupied", on))
        a["actionPickClass"].triggered.connect(self.open_class_popup)
        a["actionFillHoles"].triggered.connect(self.drawing.fill_holes)
        a["actionRemoveIslands"].triggered.connect(self.ask_remove_islands)
        a["actionMerge"].triggered.connect(self.drawing.merge)
        a["actionCategories"].triggered.connect(self.show_categories)
        self.picker.picked.connect(self.pick_class)
        doc.selectionChanged.connect(self._on_selection)
        self.drawing.categoryChanged.connect(lambda cid: self.doc.selected is None
                                          and self.picker.show_category(cid))

    def _build_toolbar(self, tb: QToolBar) -> None:
        """The tool options: brush size, the class, unoccupied (the table put it
        there) and the vertex tolerance, each with its name."""
        unoccupied = self.actions["actionUnoccupied"]
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("brushSize")
        self.size_spin.setRange(1, 1000)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Brush diameter in image pixels ([ and ], or Ctrl+wheel)")
        self.size_spin.setValue(self.drawing.brush_size)
        self.size_spin.valueChanged.connect(self.drawing.set_brush_size)
        self.drawing.brushSizeChanged.connect(self.size_spin.setValue)
        self.picker = ClassPicker(self.doc, self._shown_class)
        for label, widget in ((" Brush ", self.size_spin), (" Class ", self.picker)):
            tb.insertWidget(unoccupied, QLabel(label))
            tb.insertWidget(unoccupied, widget)
        self.tolerance_spin = QDoubleSpinBox()
        self.tolerance_spin.setObjectName("vertexTolerance")
        self.tolerance_spin.setRange(0.0, 20.0)
        self.tolerance_spin.setSingleStep(0.5)
        self.tolerance_spin.setValue(1.0)
        self.tolerance_spin.setSuffix(" px")
        self.tolerance_spin.setToolTip("Edit vertices: how far the simplified outline may stray "
                                       "from the mask (0: every corner)")
        self.tolerance_spin.valueChanged.connect(lambda v: self.vertex_tool.set_tolerance(v))
        tb.addWidget(QLabel(" Vertex tolerance "))
        tb.addWidget(self.tolerance_spin)
        self.popup = ClassPopup(self.dialog_parent)
        self.popup.picked.connect(self.pick_class)
        self.popup.closed.connect(lambda: self.canvas.setFocus(Qt.PopupFocusReason))

    def _class_actions(self) -> None:
        """The keys 1-9 (actions of the table, so their keys can be changed too)."""
        self.class_actions = [self.actions[f"actionClass{k}"] for k in range(1, 10)]
        for k, act in enumerate(self.class_actions, 1):
            act.triggered.connect(lambda _c=False, k=k: self.class_key(k))

    # ------------------------------------------------------------------- tools
    def use_tool(self, name: str) -> None:
        self.actions[name].setChecked(True)
        self.canvas.set_tool(self.tools[name])
        if self.tools[name] is None:  # Select (V): nothing will be drawn, so no new instance
            self.drawing.arm_new_instance(False)

    def escape(self) -> bool:
        """Esc that no tool took (a polygon's points go first): N is disarmed, and its
        hint goes with it. False when there was nothing to cancel."""
        if not self.drawing.new_armed:
            return False
        self.drawing.arm_new_instance(False)
        return True

    def new_instance(self) -> None:
        self.doc.select(None)
        self.drawing.arm_new_instance(True)
        if self.canvas.tool is None:
            self.use_tool("actionBrush")
        self.hint.emit("Draw the new instance (brush or polygon)")

    def open_class_popup(self) -> None:
        """Ctrl+K: a popup that has the keyboard, over the canvas."""
        ds = self.doc.dataset
        if ds is None or not ds.categories:
            self.message.emit("No classes yet: Tools → Categories… adds one")
            return
        sel = self.doc.selection
        title = (f"Class of the {len(sel)} selected instances" if len(sel) > 1 else
                 "Class of the selected instance" if sel else "Class for new instances")
        current = sel[-1].category_id if sel else self.drawing.category_id
        self.popup.popup(ds.categories, title, current, self.canvas)

    def _shown_class(self) -> int | None:
        """The Class box: the selection's class, else the next new instance's."""
        inst = self.doc.selected
        return inst.category_id if inst is not None else self.drawing.default_class()

    def _on_selection(self, _inst) -> None:
        self.picker.show_category(self._shown_class())

    def pick_class(self, category_id: int) -> None:
        self.drawing.relabel_or_choose(category_id)
        self.picker.show_category(category_id)

    def class_key(self, k: int) -> None:
        cats = self.doc.dataset.categories if self.doc.dataset else []
        if k <= len(cats):
            self.pick_class(cats[k - 1].id)

    def ask_remove_islands(self) -> None:
        n, ok = QInputDialog.getInt(self.dialog_parent, "Remove small islands",
                                    "Remove parts smaller than (pixels):", self.island_px, 1, 10**7)
        if ok:
            self.island_px = n
            self.drawing.remove_islands(n)

    def show_categories(self) -> None:
        if self.doc.dataset is not None:
            dlg = CategoryManager(self.doc, self.dialog_parent)
            dlg.open()
            self.category_dialog = dlg
