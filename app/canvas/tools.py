"""Canvas tools: brush/eraser and polygon. They turn mouse and key events (in
image coordinates) into calls on the DrawingController; the view stays generic."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import QApplication, QGraphicsEllipseItem, QGraphicsPathItem

from ..document.drawing import DrawingController


def cosmetic_pen(color: QColor, width: float, dash: bool = False) -> QPen:
    """A pen as wide on screen at every zoom (the tools' outlines and previews)."""
    p = QPen(color, width)
    p.setCosmetic(True)
    if dash:
        p.setStyle(Qt.DashLine)
    return p


class Tool:
    """Default: no editing. Methods return True when they consumed the event."""

    name = "select"

    def __init__(self, view, drawing: DrawingController):
        self.view, self.drawing = view, drawing

    def activate(self) -> None: ...

    def deactivate(self) -> None: ...

    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def key(self, event: QKeyEvent) -> bool:
        return False

    def wants_key(self, event: QKeyEvent) -> bool:
        """Should this key reach key() before a window shortcut takes it (Tab, Del)?"""
        return False


class BrushTool(Tool):
    """B paints into the selection (or a new instance); E, or Shift with B, erases.
    The ring under the cursor has the brush's true size."""

    def __init__(self, view, drawing: DrawingController, erase: bool):
        super().__init__(view, drawing)
        self.erase = erase
        self.name = "eraser" if erase else "brush"
        self.ring = QGraphicsEllipseItem()
        self.ring.setZValue(40)
        self.ring.setPen(cosmetic_pen(QColor(255, 80, 80) if erase else QColor(255, 255, 255),
                                      1.5))
        self.ring.setVisible(False)
        view.scene().addItem(self.ring)
        self._last: QPointF | None = None
        self.active = False
        drawing.brushSizeChanged.connect(lambda _s: self._last is not None and self._place(self._last))

    def activate(self) -> None:
        self.active = True
        self.view.viewport().setCursor(Qt.CrossCursor)

    def deactivate(self) -> None:
        self.active = False
        self.ring.setVisible(False)
        self.view.viewport().unsetCursor()

    def _place(self, pos: QPointF) -> None:
        r = self.drawing.brush_size / 2.0
        self.ring.setRect(QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r))
        self.ring.setVisible(self.active)
        self._last = pos

    def press(self, event, pos) -> bool:
        if event.button() != Qt.LeftButton or event.modifiers() & Qt.ControlModifier:
            return False
        erase = self.erase or bool(event.modifiers() & Qt.ShiftModifier)
        self._place(pos)
        return self.drawing.begin_stroke(pos.x(), pos.y(), erase)

    def move(self, event, pos) -> bool:
        self._place(pos)
        if self.drawing.stroke is not None and event.buttons() & Qt.LeftButton:
            self.drawing.extend_stroke(pos.x(), pos.y())
            return True
        return False

    def release(self, event, pos) -> bool:
        if event.button() != Qt.LeftButton or self.drawing.stroke is None:
            return False
        self.drawing.extend_stroke(pos.x(), pos.y())
        self.drawing.end_stroke()
        return True

    def wheel(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        size = self.drawing.brush_size
        self.drawing.set_brush_size(round(size * (1.15 ** steps)) if abs(steps) >= 1 else size + (1 if steps > 0 else -1))


class PolygonTool(Tool):
    """Click vertices; Enter or a double click closes (Shift: subtract), Backspace
    removes the last vertex, Esc cancels."""

    name = "polygon"

    def __init__(self, view, drawing: DrawingController):
        super().__init__(view, drawing)
        self.points: list[QPointF] = []
        self.preview = QGraphicsPathItem()
        self.preview.setZValue(40)
        self.preview.setPen(cosmetic_pen(QColor(255, 230, 0), 1.5))
        view.scene().addItem(self.preview)
        self._cursor = QPointF()

    def activate(self) -> None:
        self.view.viewport().setCursor(Qt.CrossCursor)

    def deactivate(self) -> None:
        self.cancel()
        self.view.viewport().unsetCursor()

    def _redraw(self) -> None:
        path = QPainterPath()
        if self.points:
            path.moveTo(self.points[0])
            for p in self.points[1:]:
                path.lineTo(p)
            path.lineTo(self._cursor)
        self.preview.setPath(path)

    def press(self, event, pos) -> bool:
        if event.button() != Qt.LeftButton or event.modifiers() & Qt.ControlModifier:
            return False
        self.points.append(QPointF(pos))
        self._cursor = QPointF(pos)
        self._redraw()
        return True

    def move(self, event, pos) -> bool:
        self._cursor = QPointF(pos)
        if self.points:
            self._redraw()
        return False

    def release(self, event, pos) -> bool:
        return event.button() == Qt.LeftButton and bool(self.points)

    def double_click(self, event, pos) -> bool:
        # the double click's first press already added this vertex
        self.close(bool(event.modifiers() & Qt.ShiftModifier))
        return True

    def close(self, subtract: bool) -> None:
        pts = [(p.x(), p.y()) for p in self.points]
        # a double click adds the same point twice; drop repeats
        pts = [p for k, p in enumerate(pts) if k == 0 or p != pts[k - 1]]
        self.cancel()
        if len(pts) >= 3:
            self.drawing.apply_polygon(pts, subtract)

    def cancel(self) -> None:
        self.points = []
        self._redraw()

    def key(self, event) -> bool:
        k = event.key()
        if k in (Qt.Key_Return, Qt.Key_Enter) and self.points:
            self.close(bool(event.modifiers() & Qt.ShiftModifier)
                       or bool(QApplication.keyboardModifiers() & Qt.ShiftModifier))
            return True
        if k == Qt.Key_Escape and self.points:
            self.cancel()
            return True
        if k == Qt.Key_Backspace and self.points:
            self.points.pop()
            self._redraw()
            return True
        return False
