"""Every file an importer opens stays inside the dataset's folder: the images, and the
annotation files too (YOLO's classes.txt, data.yaml and label files, mask PNGs, label
images, classes.csv, labelme JSON, a COCO file found in a folder). A file name in a
folder is data, like a COCO `file_name`: a symbolic link in a downloaded dataset must
not make MaskLoop read /etc/passwd into class names, or a private image into an export.

Each reader makes one `Confined` for the folder it was given and asks it before opening
anything it found there; what the user named on the command line is theirs and is not
checked. A link that leads out is refused unless follow_symlinks (--follow-symlinks),
and said once, naming the link (a linked folder once, not once per file in it)."""
from __future__ import annotations

import os
from pathlib import Path


class Confined:
    """The folder a reader was given, and whether links may lead out of it."""

    def __init__(self, root: Path | str, follow_symlinks: bool = False,
                 warnings: list[str] | None = None):
        self.root = Path(root)
        self.follow_symlinks = follow_symlinks
        self.warnings: list[str] = warnings if warnings is not None else []
        self._real_root = os.path.realpath(self.root)
        self._dirs: dict[str, str] = {}  # folder -> its real path (one lookup per folder)
        self._said: set[Path] = set()
        self.refused: list[Path] = []  # passed over without a word (detection's peeks)

    # ------------------------------------------------------------------ checks
    def _real(self, path: Path) -> str:
        """path with every link resolved; a folder's resolution is remembered, so a
        folder of 100,000 label files costs one lstat a file."""
        parent = str(path.parent)
        real_dir = self._dirs.get(parent)
        if real_dir is None:
            real_dir = self._dirs[parent] = os.path.realpath(parent)
        if os.path.islink(path):
            return os.path.realpath(path)
        return os.path.join(real_dir, path.name)

    def inside(self, path: Path | str) -> bool:
        """Does path, links resolved, lie inside the root (or are links allowed)?"""
        if self.follow_symlinks:
            return True
        real = self._real(Path(path))
        return real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep)

    def culprit(self, path: Path | str) -> Path:
        """The first part of path, from the root down, that leads out of the root."""
        path = Path(path)
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            return path
        here = self.root
        for part in parts:
            here = here / part
            if not self.inside(here):
                return here
        return path

    def allows(self, path: Path | str, said: list[str] | None = None) -> bool:
        """May path be opened? If not, the reason goes into `said` (by default the
        reader's warnings), once per link that leads out."""
        if self.inside(path):
            return True
        link = self.culprit(path)
        if link not in self._said:
            self._said.add(link)
            kind = ("a folder", "nothing in it is read") if link.is_dir() else ("a file",
                                                                                "not read")
            (self.warnings if said is None else said).append(
                f"{link}: a symbolic link to {kind[0]} outside {self.root}; {kind[1]} "
                "(--follow-symlinks reads it)")
        return False

    def is_file(self, path: Path | str) -> bool:
        """A file that exists and may be opened (a refused one is said)."""
        return Path(path).is_file() and self.allows(path)

    def is_dir(self, path: Path | str) -> bool:
        return Path(path).is_dir() and self.allows(path)
