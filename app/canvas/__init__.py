"""The image canvas: a QGraphicsView whose scene coordinates are image pixels."""
