"""Words and durations as the user reads them; shared by the CLI, the reports and the app."""
from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 image', '3 images', '2 boxes' (with many='boxes')."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def format_eta(seconds: float) -> str:
    """'4:05' or '1:02:03'."""
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
