"""Model-assisted tools on the canvas: box -> mask, click -> instance, and polygon
vertex editing. Mouse positions are image pixels (the scene's coordinates)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem

from model.editing import vertices as V
from model.editing.user_actions import reshape_edit
from model.effort.action_costs import VERTEX

from .items import SelectionItem
from .tools import Tool, cosmetic_pen

HANDLE_PX = 7  # a vertex handle's side, in screen pixels
PICK_PX = 8  # how near (screen pixels) a press must be to a vertex or an edge


class BoxTool(Tool):
    """Drag a box around an object; the model segments it (Alt+drag on the selected
    instance: a new mask for it from the new box)."""

    name = "box"

    def __init__(self, view, edit, assist):
        super().__init__(view, edit)
        self.assist = assist
        self.rect_item = QGraphicsRectItem()
        self.rect_item.setZValue(40)
        self.rect_item.setPen(cosmetic_pen(QColor(80, 220, 255), 1.5, dash=True))
        self.rect_item.setVisible(False)
        view.scene().addItem(self.rect_item)
        self._start: QPointF | None = None

    def activate(self) -> None:
        self.view.viewport().setCursor(Qt.CrossCursor)

    def deactivate(self) -> None:
        self._start = None
        self.rect_item.setVisible(False)
        self.view.viewport().unsetCursor()

    def _rect(self, pos: QPointF) -> QRectF:
        return QRectF(self._start, pos).normalized()

    def press(self, event, pos) -> bool:
        if event.button() != Qt.LeftButton or event.modifiers() & Qt.ControlModifier:
            return False
        self._start = QPointF(pos)
        self.rect_item.setRect(QRectF(pos, pos))
        self.rect_item.setVisible(True)
        return True

    def move(self, event, pos) -> bool:
        if self._start is None or not event.buttons() & Qt.LeftButton:
            return False
        self.rect_item.setRect(self._rect(pos))
        return True

    def release(self, event, pos) -> bool:
        if event.button() != Qt.LeftButton or self._start is None:
            return False
        r = self._rect(pos)
        self._start = None
        self.rect_item.setVisible(False)
        target = None
        if event.modifiers() & Qt.AltModifier:
            target = self.drawing.doc.selected
        self.assist.box((r.left(), r.top(), r.right(), r.bottom()), target)
        return True

    def key(self, event) -> bool:
        if event.key() == Qt.Key_Escape and self._start is not None:
            self._start = None
            self.rect_item.setVisible(False)
            return True
        return False


class ClickTool(Tool):
    """Click an object: the best detection under the point is offered, outlined.
    Click it again or press Enter to accept; Shift+click or Tab: the next one; Esc."""

    name = "click"
    KEYS = (Qt.Key_Tab, Qt.Key_Return, Qt.Key_Enter, Qt.Key_Escape)

    def __init__(self, view, edit, assist):
        super().__init__(view, edit)
        self.assist = assist
        self.outline = SelectionItem()
        self.outline.setZValue(35)
        self.outline.setPen(cosmetic_pen(QColor(80, 220, 255), 2.5, dash=True))
        view.scene().addItem(self.outline)
        assist.offerChanged.connect(self.outline.set_instance)

    def activate(self) -> None:
        self.view.viewport().setCursor(Qt.PointingHandCursor)

    def deactivate(self) -> None:
        self.assist.cancel_offer()
        self.view.viewport().unsetCursor()

    def press(self, event, pos) -> bool:
        if event.button() != Qt.LeftButton or event.modifiers() & Qt.ControlModifier:
            return False
        x, y = int(np.floor(pos.x())), int(np.floor(pos.y()))
        shift = bool(event.modifiers() & Qt.ShiftModifier)
        offered = self.assist.offered()
        if offered is not None and not shift and _covers(offered, x, y):
            self.assist.accept()
        else:
            self.assist.click(x, y, cycle=shift)
        return True

    def release(self, event, pos) -> bool:
        return event.button() == Qt.LeftButton

    def wants_key(self, event) -> bool:
        return event.key() in self.KEYS and self.assist.offered() is not None

    def key(self, event) -> bool:
        if self.assist.offered() is None:
            return False
        k = event.key()
        if k == Qt.Key_Tab:
            self.assist.cycle()
        elif k in (Qt.Key_Return, Qt.Key_Enter):
            self.assist.accept()
        elif k == Qt.Key_Escape:
            self.assist.cancel_offer()
        else:
            return False
        return True


def _covers(inst, x: int, y: int) -> bool:
    ox, oy = inst.offset
    h, w = inst.mask.shape
    return ox <= x < ox + w and oy <= y < oy + h and bool(inst.mask[y - oy, x - ox])


class VertexTool(Tool):
    """The selected instance's outline as polygon rings (holes are rings of their own).
    Drag a vertex; press on an edge to insert one; Alt+click or Delete removes one;
    Enter commits (one undo step, only the pixels between old and new rings change);
    Esc drops the changes."""

    name = "vertices"
    KEYS = (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Escape, Qt.Key_Delete, Qt.Key_Backspace)

    def __init__(self, view, edit):
        super().__init__(view, edit)
        self.tolerance = 1.0
        self.inst = None
        self.old: list[np.ndarray] = []
        self.rings: list[np.ndarray] = []
        self.drag: tuple[int, int] | None = None
        self.hover: tuple[int, int] | None = None
        self.path = QGraphicsPathItem()
        self.path.setZValue(45)
        self.path.setPen(cosmetic_pen(QColor(255, 230, 0), 1.5))
        self.handles = QGraphicsPathItem()
        self.handles.setZValue(46)
        self.handles.setPen(cosmetic_pen(QColor(20, 20, 20), 1.0))
        self.handles.setBrush(QBrush(QColor(255, 230, 0)))
        for item in (self.path, self.handles):
            view.scene().addItem(item)
        self.active = False
        self.moves = 0  # vertices dragged, inserted or removed since the last commit
        edit.doc.selectionChanged.connect(lambda _i: self.active and self.load())
        view.zoomChanged.connect(lambda _z: self.active and self._redraw())

    @property
    def changed(self) -> bool:
        return len(self.rings) != len(self.old) or any(
            a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(self.rings, self.old))

    def activate(self) -> None:
        self.active = True
        self.view.viewport().setCursor(Qt.ArrowCursor)
        self.load()

    def deactivate(self) -> None:
        self.active = False
        self.inst, self.rings, self.old = None, [], []
        self._redraw()
        self.view.viewport().unsetCursor()

    def set_tolerance(self, px: float) -> None:
        self.tolerance = float(px)
        if self.active and not self.changed:
            self.load()

    def load(self) -> None:
        """Rings of the selected instance (the changes not committed are dropped)."""
        inst = self.drawing.doc.selected
        self.inst = inst
        self.old = V.rings(inst.mask, inst.offset, self.tolerance) if inst is not None else []
        self.rings = [r.copy() for r in self.old]
        self.drag = None
        self.moves = 0
        self._redraw()

    def _radius(self) -> float:
        return PICK_PX / max(self.view.zoom(), 1e-6)

    def _redraw(self) -> None:
        path, handles = QPainterPath(), QPainterPath()
        side = HANDLE_PX / max(self.view.zoom(), 1e-6)
        for ring in self.rings:
            if len(ring) < 2:
                continue
            path.moveTo(*ring[0])
            for p in ring[1:]:
                path.lineTo(*p)
            path.closeSubpath()
            for x, y in ring:
                handles.addRect(QRectF(x - side / 2, y - side / 2, side, side))
        self.path.setPath(path)
        self.handles.setPath(handles)

    def press(self, event, pos) -> bool:
        if event.button() != Qt.LeftButton or not self.rings:
            return False
        x, y, r = pos.x(), pos.y(), self._radius()
        hit = V.nearest_vertex(self.rings, x, y, r)
        if hit is not None and event.modifiers() & Qt.AltModifier:
            self._remove(hit)
            return True
        if hit is None:
            edge = V.nearest_edge(self.rings, x, y, r)
            if edge is None:
                return False
            ring, at, p = edge
            self.rings[ring] = np.insert(self.rings[ring], at, p, axis=0)
            hit = (ring, at)
        self.drag = hit
        self.moves += 1
        self._redraw()
        return True

    def move(self, event, pos) -> bool:
        if self.rings:
            self.hover = V.nearest_vertex(self.rings, pos.x(), pos.y(), self._radius())
        if self.drag is None or not event.buttons() & Qt.LeftButton:
            return False
        ring, k = self.drag
        self.rings[ring][k] = (pos.x(), pos.y())
        self._redraw()
        return True

    def release(self, event, pos) -> bool:
        if event.button() != Qt.LeftButton or self.drag is None:
            return False
        self.drag = None
        return True

    def _remove(self, hit: tuple[int, int]) -> None:
        ring, k = hit
        if len(self.rings[ring]) > 3:  # a ring keeps three vertices
            self.rings[ring] = np.delete(self.rings[ring], k, axis=0)
            self.moves += 1
            self.hover = None
            self._redraw()

    def commit(self) -> bool:
        inst, rec = self.inst, self.drawing.doc.current
        if inst is None or rec is None or not self.changed:
            return False
        after = V.apply_rings(inst.mask, inst.offset, self.old, self.rings, rec.width,
                              rec.height)
        edit = reshape_edit(rec, inst, after, "Edit vertices")
        edit.gestures = {VERTEX: max(1, self.moves)}  # each vertex moved, added or removed
        self.drawing.push_edit(edit, inst)
        self.load()
        return True

    def wants_key(self, event) -> bool:
        return event.key() in self.KEYS and bool(self.rings)

    def key(self, event) -> bool:
        k = event.key()
        if not self.rings:
            return False
        if k in (Qt.Key_Return, Qt.Key_Enter):
            self.commit()
        elif k == Qt.Key_Escape:
            self.load()
        elif k in (Qt.Key_Delete, Qt.Key_Backspace) and self.hover is not None:
            self._remove(self.hover)
        else:
            return False
        return True
