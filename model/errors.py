"""Every error type of the model layer, in one place; each message is meant for the user.

The CLI maps them to exit codes (model/cli/commands.py): a problem with the user's input is 2,
a run that failed is 1. The GUI shows the message as it is.
"""
from __future__ import annotations

import os
from pathlib import Path

MAX_SHOWN = 12  # problems listed at once; the rest are counted


class Cancelled(Exception):
    """Work stopped because the caller set its cancel event."""


class DeviceError(RuntimeError):
    """A requested compute device does not exist here."""


class WeightsError(RuntimeError):
    """Model weights could not be found, fetched or trusted; the message says what to do."""


class UnusableImage(ValueError):
    """An image the model cannot take (too thin to resize, say); skipped, not fatal."""


class UsageError(ValueError):
    """An argument the user can fix (an output that cannot be written, say): exit code 2."""


class FileError(ValueError):
    """A file that cannot be used as it is; the message names the file and the reason."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageReadError(FileError):
    """An image file could not be turned into pixels."""


class FormatError(FileError):
    """A labelme, YOLO or mask file that cannot be read."""


class CocoFormatError(ValueError):
    """A COCO file that cannot be loaded; `problems` lists every fault found."""

    def __init__(self, path: Path | str | None, problems: list[str]):
        self.path = None if path is None else Path(path)
        self.problems = problems
        where = str(self.path) if self.path else "COCO data"
        shown = "\n".join(f"  - {p}" for p in problems[:MAX_SHOWN])
        more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        super().__init__(f"{where}: invalid COCO file ({len(problems)} problem"
                         f"{'s' if len(problems) != 1 else ''}):\n{shown}{more}")


class SuspectsFileError(CocoFormatError):
    """A SUSPECTS.json (model/audit/suspects.py) that does not fit the open dataset."""

    def __init__(self, path: Path | str | None, problems: list[str]):
        super().__init__(path, problems)
        where = str(self.path) if self.path else "suspects"
        shown = "\n".join(f"  - {p}" for p in problems[:MAX_SHOWN])
        more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        self.args = (f"{where}: invalid suspects file ({len(problems)} problem"
                     f"{'s' if len(problems) != 1 else ''}):\n{shown}{more}",)


class TrainingDataError(ValueError):
    """The dataset cannot be trained on as it is; the message says why and what to do."""


class TrainingError(RuntimeError):
    """Training stopped for a reason the user can act on; the message says which."""


class KeptElsewhere(OSError):
    """The output could not be written where asked; the message names where it is."""
