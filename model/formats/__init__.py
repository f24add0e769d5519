"""Other tools' annotation formats: labelme, YOLO-seg, per-instance mask PNGs and label images."""
