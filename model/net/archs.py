"""The Mask R-CNN architectures MaskLoop builds, by torchvision's names. Kept apart so the
weights loader, the model builder and the checkpoint schema share them without a cycle."""
from __future__ import annotations

ARCH_V1 = "maskrcnn_resnet50_fpn"
ARCH_V2 = "maskrcnn_resnet50_fpn_v2"
ARCHS = (ARCH_V1, ARCH_V2)
