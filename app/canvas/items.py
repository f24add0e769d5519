"""Scene items. Scene coordinates are image pixels: pixel (x, y) covers [x, x+1)."""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem

from model.annotations import Instance


class BufferItem(QGraphicsItem):
    """Draws a QImage that wraps a numpy buffer, only over the exposed rectangle.

    Nothing is converted or re-encoded on paint: Qt samples the wrapped memory
    directly (RGB32 / ARGB32_Premultiplied are its raster engine's native formats).
    """

    def __init__(self, z: float):
        super().__init__()
        self.setZValue(z)
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, True)
        self.image: QImage | None = None
        self._rect = QRectF()

    def set_image(self, image: QImage | None) -> None:
        self.prepareGeometryChange()
        self.image = image
        self._rect = QRectF() if image is None else QRectF(0, 0, image.width(), image.height())
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if self.image is None:
            return
        exposed = option.exposedRect.intersected(self._rect).toAlignedRect()
        if exposed.isEmpty():
            return
        # crisp pixels when zoomed in, smooth when zoomed out
        scale = painter.worldTransform().m11()
        painter.setRenderHint(QPainter.SmoothPixmapTransform, scale < 1.0)
        painter.drawImage(exposed, self.image, exposed)


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


class LabelItem(QGraphicsItem):
    """'class 0.93' tag at an instance's top-left; stays the same size at any zoom."""

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
        self.color = QColor(*color)
        fm = QFontMetricsF(self.font())
        self._rect = QRectF(0, -fm.height() - 2, fm.horizontalAdvance(text) + 6, fm.height() + 2)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.fillRect(self._rect, QBrush(QColor(0, 0, 0, 170)))
        painter.fillRect(QRectF(self._rect.left(), self._rect.top(), 3, self._rect.height()),
                         self.color)
        painter.setPen(QColor(255, 255, 255))
        painter.setFont(self.font())
        painter.drawText(self._rect.adjusted(5, 0, 0, 0), Qt.AlignVCenter | Qt.AlignLeft, self.text)
