"""Brightness, contrast and gamma for display only: the model and the saved data
never see these pixels."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DisplayAdjust:
    brightness: float = 0.0  # -1..1, added after contrast
    contrast: float = 1.0  # gain about mid-grey
    gamma: float = 1.0  # >1 brightens dark images

    @property
    def identity(self) -> bool:
        return self.brightness == 0.0 and self.contrast == 1.0 and self.gamma == 1.0

    def lut(self) -> np.ndarray:
        x = np.arange(256, dtype=np.float64) / 255.0
        x = np.power(x, 1.0 / max(self.gamma, 1e-3))
        x = (x - 0.5) * self.contrast + 0.5 + self.brightness
        return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def apply_to_bgra(bgra: np.ndarray, adjust: DisplayAdjust, out: np.ndarray | None = None
                  ) -> np.ndarray:
    """Apply the adjustment's LUT to B, G and R (alpha stays 255)."""
    if out is None:
        out = np.empty_like(bgra)
    if adjust.identity:
        out[...] = bgra
        return out
    lut = adjust.lut()
    lut4 = np.stack([lut, lut, lut, np.full(256, 255, np.uint8)], axis=1).reshape(1, 256, 4)
    cv2.LUT(bgra, lut4, dst=out)
    return out
