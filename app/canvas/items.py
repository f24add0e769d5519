"""Scene items. Scene coordinates are image pixels: pixel (x, y) covers [x, x+1)."""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem,
                               QGraphicsSimpleTextItem, QStyleOptionGraphicsItem)

from model.data.annotations import Instance

from .pyramid import Pyramid


class BufferItem(QGraphicsItem):
    """Draws a QImage that wraps a numpy buffer, only over the exposed rectangle.

    Nothing is converted or re-encoded on paint: Qt samples the wrapped memory
    directly (RGB32 / ARGB32_Premultiplied are its raster engine's native formats).
    """

    def __init__(self, z: float):
        super().__init__()
        self.setZValue(z)
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, True)
        self.pyramid: Pyramid | None = None
        self._rect = QRectF()

    @property
    def image(self) -> QImage | None:
        return None if self.pyramid is None else self.pyramid.images[0]

    def set_pyramid(self, pyramid: Pyramid | None) -> None:
        self.prepareGeometryChange()
        self.pyramid = pyramid
        img = self.image
        self._rect = QRectF() if img is None else QRectF(0, 0, img.width(), img.height())
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if self.pyramid is None:
            return
        exposed = option.exposedRect.intersected(self._rect).toAlignedRect()
        if exposed.isEmpty():
            return
        # crisp pixels when zoomed in; zoomed out, the half-size level nearest the
        # screen's resolution, smoothed
        scale = painter.worldTransform().m11()
        painter.setRenderHint(QPainter.SmoothPixmapTransform, scale < 1.0)
        k = self.pyramid.level_for(scale)
        if k == 0:
            painter.drawImage(exposed, self.pyramid.images[0], exposed)
            return
        f = 2 ** k
        src = QRectF(exposed.x() / f, exposed.y() / f, exposed.width() / f, exposed.height() / f)
        painter.drawImage(QRectF(exposed), self.pyramid.images[k], src)


class SelectionItem(QGraphicsPathItem):
    """The selected instance's outline (holes included), drawn with a cosmetic pen."""

    def __init__(self):
        super().__init__()
        self.setZValue(30)
        pen = QPen(QColor(255, 255, 255), 2.5)
        pen.setCosmetic(True)
        self.setPen(pen)
        self._dark = QPen(QColor(0, 0, 0), 4.5)
        self._dark.setCosmetic(True)

    def set_instance(self, inst: Instance | None) -> None:
        self.set_instances([] if inst is None else [inst])

    def set_instances(self, instances: list[Instance]) -> None:
        path = QPainterPath()
        for inst in instances:
            if not inst.mask.size:
                continue
            m = np.pad(inst.mask.view(np.uint8), 1)
            contours, _ = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
            ox, oy = inst.offset[0] - 1, inst.offset[1] - 1
            for c in contours:
                pts = c.reshape(-1, 2)
                path.moveTo(pts[0][0] + ox + 0.5, pts[0][1] + oy + 0.5)
                for x, y in pts[1:]:
                    path.lineTo(x + ox + 0.5, y + oy + 0.5)
                path.closeSubpath()
        self.setPath(path)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setPen(self._dark)
        painter.drawPath(self.path())
        super().paint(painter, option, widget)


class LabelItem(QGraphicsRectItem):
    """'class 0.93' tag at an instance's top-left; stays the same size at any zoom.

    Built only from Qt's own items (no Python paint()), so drawing 100 labels never
    waits for the GIL while the inference thread is busy.
    """

    _font: QFont | None = None

    @classmethod
    def font(cls) -> QFont:
        if cls._font is None:  # made lazily: a QFont needs the QApplication to exist
            cls._font = QFont()
        return cls._font

    def __init__(self, text: str, color: tuple[int, int, int], pos: QPointF):
        super().__init__()
        self.setFlag(QGraphicsItem.ItemIgnoresTransformations, True)
        self.setZValue(20)
        self.setPos(pos)
        self.text = text
        fm = QFontMetricsF(self.font())
        w, h = fm.horizontalAdvance(text) + 8, fm.height() + 2
        self.setRect(QRectF(0, -h, w, h))
        self.setBrush(QBrush(QColor(0, 0, 0, 170)))
        self.setPen(QPen(Qt.NoPen))
        stripe = QGraphicsRectItem(QRectF(0, -h, 3, h), self)
        stripe.setBrush(QBrush(QColor(*color)))
        stripe.setPen(QPen(Qt.NoPen))
        label = QGraphicsSimpleTextItem(text, self)
        label.setFont(self.font())
        label.setBrush(QBrush(QColor(255, 255, 255)))
        label.setPos(5, -h + 1)
