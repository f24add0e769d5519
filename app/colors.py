"""Distinct, stable colours for instances and classes."""
from __future__ import annotations

import colorsys

_GOLDEN = 0.618033988749895


def color_for(key: int) -> tuple[int, int, int]:
    """RGB for an integer key; neighbouring keys get far-apart hues."""
    hue = (0.13 + key * _GOLDEN) % 1.0
    sat = 0.75 + 0.2 * ((key * 7) % 3) / 2
    r, g, b = colorsys.hsv_to_rgb(hue, sat, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def parse_hex(text: str | None) -> tuple[int, int, int] | None:
    if not isinstance(text, str) or not text.startswith("#") or len(text) != 7:
        return None
    try:
        return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))
    except ValueError:
        return None
