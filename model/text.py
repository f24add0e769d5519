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


def joined(words: list[str], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c': names in a sentence."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


SHOWN = 20  # warnings printed one by one; the rest are counted


def shown_warnings(warnings: list[str], shown: int = SHOWN) -> list[str]:
    """The first `shown` warnings, and a last line with how many were left out and the
    total, so a long list is never cut without saying so."""
    if len(warnings) <= shown:
        return list(warnings)
    return list(warnings[:shown]) + [f"... and {len(warnings) - shown} more "
                                     f"({len(warnings)} warnings in all)"]
