"""CanvasView: zoom, pan, the image, one overlay item for all masks, selection and labels.

Edits arrive as dirty rectangles (Document.instancesChanged): only that part of the
overlay is recomposited and repainted.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

from model.data.annotations import Instance

from ..display import DisplayAdjust, apply_to_bgra
from ..document.document import Document
from ..colors import color_for, parse_hex
from .items import BufferItem, LabelItem, SelectionItem
from .pyramid import Pyramid
from .overlay import OverlayCompositor, Rect

ZOOM_STEP = 1.2
BAND_PIXELS = 750_000  # a larger overlay redraw is split into bands, one per event-loop turn
MIN_ZOOM, MAX_ZOOM = 0.01, 64.0


class CanvasView(QGraphicsView):
    cursorMoved = Signal(int, int)  # image pixel under the cursor, (-1, -1) outside
    zoomChanged = Signal(float)

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent)
        self.setObjectName("canvas")
        self.doc = doc
        self.scene_ = QGraphicsScene(self)
        self.setScene(self.scene_)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.MinimalViewportUpdate)
        self.setMouseTracking(True)
        self.setDragMode(QGraphicsView.NoDrag)
        self.setFocusPolicy(Qt.StrongFocus)
        self.image_item = BufferItem(0)
        self.overlay_item = BufferItem(10)
        self.selection_item = SelectionItem()
        for item in (self.image_item, self.overlay_item, self.selection_item):
            self.scene_.addItem(item)
        self.compositor: OverlayCompositor | None = None
        self.rgb: np.ndarray | None = None  # what the model sees; shown through `adjust`
        self._bgra: np.ndarray | None = None
        self._shown: np.ndarray | None = None
        self.adjust = DisplayAdjust()
        self.color_by_class = False
        self.show_labels = True
        self._labels: list[LabelItem] = []
        self.image_id: int | None = None
        self.fitted = True  # fit to window until the user zooms or pans: a resize refits
        self.notice = ""  # shown instead of an image (one that cannot be read)
        self._pan_from: QPointF | None = None
        self._space = False
        self.tool = None  # the active drawing tool (tools.py); None: select
        self.tab_step = None  # Tab / Shift+Tab here: tab_step(forward) (next instance)
        self._bands: list[Rect] = []  # overlay rectangles still to recomposite
        self._band_timer = QTimer(self, singleShot=True, interval=0)
        self._band_timer.timeout.connect(self._next_band)
        doc.instancesChanged.connect(self._on_instances_changed)
        doc.pixelsEdited.connect(self._on_pixels_edited)
        doc.selectionChanged.connect(self._on_selection)
        doc.currentChanged.connect(self._on_current_changed)
        doc.datasetReset.connect(self.clear_image)

    # ------------------------------------------------------------------ content
    def clear_image(self, notice: str = "") -> None:
        """Show no image; `notice` says why, in the middle of the view."""
        self.notice = notice
        self.viewport().update()
        self._bands.clear()
        self.image_id = None
        self.rgb = self._bgra = self._shown = None
        self.compositor = None
        self.image_item.set_pyramid(None)
        self.overlay_item.set_pyramid(None)
        self.selection_item.set_instance(None)
        self._set_labels([])

    def set_image(self, image_id: int, rgb: np.ndarray, bgra: np.ndarray) -> None:
        """Show decoded pixels (from the loader thread) and composite the overlay."""
        first = self.rgb is None or self.rgb.shape != rgb.shape
        self.notice = ""
        self.image_id = image_id
        self.rgb, self._bgra = rgb, bgra
        self._refresh_display()
        h, w = rgb.shape[:2]
        self._bands.clear()
        self.compositor = OverlayCompositor(h, w)
        self.compositor.opacity = getattr(self, "_opacity", 0.45)
        self.overlay_item.set_pyramid(Pyramid(self.compositor.buffer, premultiplied=True))
        self.scene_.setSceneRect(QRectF(-w * 0.05, -h * 0.05, w * 1.1, h * 1.1))
        self.redraw_overlay()
        if first or self.fitted:
            self.fit()

    def _refresh_display(self) -> None:
        if self._bgra is None:
            return
        if self.adjust.identity:
            self._shown = self._bgra
        else:
            if self._shown is None or self._shown is self._bgra or self._shown.shape != self._bgra.shape:
                self._shown = np.empty_like(self._bgra)
            apply_to_bgra(self._bgra, self.adjust, self._shown)
        self.image_item.set_pyramid(Pyramid(self._shown, premultiplied=False))

    def set_display_adjust(self, adjust: DisplayAdjust) -> None:
        self.adjust = adjust
        self._refresh_display()

    # ------------------------------------------------------------------ overlay
    def instance_color(self, inst: Instance) -> tuple[int, int, int]:
        if self.color_by_class:
            try:
                cat = self.doc.dataset.category(inst.category_id)
                return parse_hex(cat.extra.get("color")) or color_for(cat.id)
            except KeyError:
                return color_for(inst.category_id)
        return color_for(inst.id if inst.id is not None else id(inst) % 997)

    def set_opacity(self, value: float) -> None:
        self._opacity = value
        if self.compositor is not None:
            self.compositor.opacity = value
            self.redraw_overlay()

    def set_color_by_class(self, on: bool) -> None:
        self.color_by_class = on
        self.redraw_overlay()

    def set_show_labels(self, on: bool) -> None:
        self.show_labels = on
        self._update_labels()

    def redraw_overlay(self, rect: Rect | None = None) -> None:
        """Recomposite `rect` (None: all). A big area is done in bands across
        event-loop turns, so a 12 MP redraw never freezes the window."""
        rec = self.doc.current
        if self.compositor is None or rec is None or rec.id != self.image_id:
            return
        drawn = self.doc.drawn(rec)
        if rect is None:
            self.compositor.forget(drawn)
            rect = self.compositor.full_rect()
        x0, y0, x1, y1 = rect
        rows = max(1, BAND_PIXELS // max(1, x1 - x0))
        bands = [(x0, y, x1, min(y + rows, y1)) for y in range(y0, y1, rows)]
        if len(bands) == 1:
            self._render(drawn, bands[0])  # an edit-sized change: on screen at once
        else:
            self._bands.extend(bands)  # a big one: band by band, between other events
            self._band_timer.start()
        self._update_labels()
        self._outline_selection(drawn)

    def _render(self, drawn, rect: Rect) -> None:
        done = self.compositor.render(drawn, self.instance_color, rect)
        if done is not None:
            x0, y0, x1, y1 = done
            if self.overlay_item.pyramid is not None:
                self.overlay_item.pyramid.update(done)
            self.overlay_item.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def _next_band(self) -> None:
        rec = self.doc.current
        if not self._bands or self.compositor is None or rec is None or rec.id != self.image_id:
            self._bands.clear()
            return
        self._render(self.doc.drawn(rec), self._bands.pop(0))
        if self._bands:
            self._band_timer.start()

    def flush_overlay(self) -> None:
        """Finish any banded redraw now (tests and screenshots want the final picture)."""
        while self._bands:
            self._next_band()

    def _on_instances_changed(self, image_id: int, rect) -> None:
        if image_id == self.image_id:
            self.redraw_overlay(rect)

    def _on_pixels_edited(self, image_id: int, rect) -> None:
        """A live stroke: recomposite just its rectangle; labels and outline wait for release."""
        rec = self.doc.current
        if image_id == self.image_id and self.compositor is not None and rec is not None:
            self._render(self.doc.drawn(rec), rect)

    def set_tool(self, tool) -> None:
        if self.tool is not None:
            self.tool.deactivate()
        self.tool = tool
        if tool is not None:
            tool.activate()

    def _outline_selection(self, drawn=None) -> None:
        rec = self.doc.current
        if drawn is None:
            drawn = self.doc.drawn(rec) if rec is not None and rec.id == self.image_id else []
        ids = {id(i) for i in drawn}
        self.selection_item.set_instances([i for i in self.doc.selection if id(i) in ids])

    def _on_selection(self, _inst) -> None:
        self._outline_selection()

    def _on_current_changed(self, _row: int) -> None:
        rec = self.doc.current
        if rec is None:
            self.clear_image()  # no image shown (a filter lists none)
        elif rec.id != self.image_id:
            self.selection_item.set_instance(None)

    def drawForeground(self, painter, rect) -> None:
        super().drawForeground(painter, rect)
        if self.notice and self.rgb is None:
            painter.save()
            painter.resetTransform()  # viewport pixels
            painter.setPen(QColor(230, 230, 230))
            painter.drawText(self.viewport().rect().adjusted(20, 20, -20, -20),
                             Qt.AlignCenter | Qt.TextWordWrap, self.notice)
            painter.restore()

    def _set_labels(self, labels: list[LabelItem]) -> None:
        for item in self._labels:
            self.scene_.removeItem(item)
        self._labels = labels
        for item in labels:
            self.scene_.addItem(item)

    def _update_labels(self) -> None:
        rec = self.doc.current
        if not self.show_labels or rec is None or rec.id != self.image_id:
            self._set_labels([])
            return
        names = self.doc.dataset.category_names()
        labels = []
        for inst in self.doc.drawn(rec):
            text = names.get(inst.category_id, str(inst.category_id))
            if inst.score is not None:
                text += f" {inst.score:.2f}"
            if inst.review == "accepted":
                text += " \u2713"
            x, y = inst.offset
            labels.append(LabelItem(text, self.instance_color(inst), QPointF(x, y)))
        self._set_labels(labels)

    def hit_test(self, x: int, y: int) -> Instance | None:
        rec = self.doc.current
        if self.compositor is None or rec is None:
            return None
        return self.compositor.hit_test(self.doc.drawn(rec), x, y)

    # --------------------------------------------------------------- zoom & pan
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, z: float, anchor: QPointF | None = None) -> None:
        self._leave_fit()
        z = min(max(z, MIN_ZOOM), MAX_ZOOM)
        factor = z / self.zoom()
        if anchor is None:
            self.setTransformationAnchor(QGraphicsView.AnchorViewCenter)
        self.scale(factor, factor)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.zoomChanged.emit(self.zoom())

    def fit(self) -> None:
        """The whole image in the view, with no scroll bars; it stays fitted through
        window and dock resizes until the user zooms or pans."""
        self.fitted = True
        if self.rgb is None:
            return
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        h, w = self.rgb.shape[:2]
        self.fitInView(QRectF(0, 0, w, h), Qt.KeepAspectRatio)
        self.zoomChanged.emit(self.zoom())

    def _leave_fit(self) -> None:
        if self.fitted:
            self.fitted = False
            self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
            self.setVerticalScrollBarPolicy(Qt.ScrollBarAsNeeded)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.fitted and self.rgb is not None:
            self.fit()

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def zoom_step(self, steps: int) -> None:
        """Keyboard zoom (+ / -): about the centre of the view, not the cursor."""
        if self.rgb is not None:
            self.set_zoom(self.zoom() * ZOOM_STEP ** steps)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.ControlModifier and self.tool is not None \
                and hasattr(self.tool, "wheel"):
            self.tool.wheel(event)
            return
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.zoom() * ZOOM_STEP ** steps, anchor=event.position())

    # ---------------------------------------------------------------- mouse
    def image_pos(self, event: QMouseEvent) -> QPointF:
        return self.mapToScene(event.position().toPoint())

    def _pixel(self, p: QPointF) -> tuple[int, int]:
        return int(np.floor(p.x())), int(np.floor(p.y()))

    def _start_pan(self, event: QMouseEvent) -> None:
        self._leave_fit()
        self._pan_from = event.position()
        self.viewport().setCursor(Qt.ClosedHandCursor)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton and self._space):
            self._start_pan(event)
            event.accept()
            return
        if self.tool is not None and self.tool.press(event, self.image_pos(event)):
            event.accept()
            return
        if event.button() == Qt.LeftButton:
            x, y = self._pixel(self.image_pos(event))
            hit = self.hit_test(x, y)
            if event.modifiers() & Qt.ControlModifier and self.tool is None and hit is not None:
                self.doc.toggle_selected(hit)  # Ctrl+click: multi-select (merge)
            else:
                self.doc.select(hit)  # in a drawing tool, Ctrl+click selects
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.tool is not None and self.tool.double_click(event, self.image_pos(event)):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            event.accept()
            return
        pos = self.image_pos(event)
        x, y = self._pixel(pos)
        if self.rgb is not None and 0 <= x < self.rgb.shape[1] and 0 <= y < self.rgb.shape[0]:
            self.cursorMoved.emit(x, y)
        else:
            self.cursorMoved.emit(-1, -1)
        if self.tool is not None and self.tool.move(event, pos):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        if self.tool is not None and self.tool.release(event, self.image_pos(event)):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def event(self, event) -> bool:
        # a tool that uses Tab, Enter or Del gets them before the window's shortcuts
        if event.type() == QEvent.ShortcutOverride and self.tool is not None \
                and self.tool.wants_key(event):
            event.accept()
            return True
        return super().event(event)

    def focusNextPrevChild(self, forward: bool) -> bool:
        """Tab on the canvas: a tool that offers something cycles it (click to instance),
        else next / previous instance; Ctrl+Tab moves the focus on (keyPressEvent)."""
        tab = QKeyEvent(QEvent.KeyPress, Qt.Key_Tab if forward else Qt.Key_Backtab,
                        Qt.NoModifier if forward else Qt.ShiftModifier)
        if self.tool is not None and self.tool.wants_key(tab):
            return False  # keyPressEvent hands it to the tool
        if self.tab_step is not None:
            self.tab_step(forward)
            return True
        return super().focusNextPrevChild(forward)

    def keyPressEvent(self, event) -> None:
        if self.tool is not None and self.tool.key(event):
            event.accept()
            return
        if event.key() in (Qt.Key_Tab, Qt.Key_Backtab) and event.modifiers() & Qt.ControlModifier:
            forward = event.key() == Qt.Key_Tab and not event.modifiers() & Qt.ShiftModifier
            super().focusNextPrevChild(forward)
            event.accept()
            return
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)
