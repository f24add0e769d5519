"""Where a dataset's own state lives: `.maskloop/` beside its COCO file (or in its image
folder before the first save), holding the recovery file, cached predictions, the effort
record, model versions and training runs (checkpoints).

MaskLoop writes there on its own (autosave, fine-tuning), so the folder is an output and
stays inside the dataset's folder: a dataset shared with `.maskloop` as a link (or with a
link inside it, such as `runs/`) would have MaskLoop write recovery files and checkpoints
wherever the link points, and read its state from there. Such a folder is not used; the
dataset's state goes to a folder of the user's own (keyed by the dataset's real path), and
a warning names the link. The rule is the same at every open, so recovery finds what the
autosave wrote.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

STATE_DIR = ".maskloop"
LINKED_ENTRIES = ("runs",)  # folders inside it that MaskLoop writes into, checked too


def user_state_root() -> Path:
    """The user's own state folder ($XDG_STATE_HOME, else ~/.local/state; %LOCALAPPDATA% on
    Windows), for datasets whose `.maskloop` cannot be used."""
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "maskloop" / "state"
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):  # the XDG rule: a relative one is ignored (it would move
        base = os.path.join(os.path.expanduser("~"), ".local", "state")  # with the cwd)
    return Path(base) / "maskloop"


def _links(folder: Path) -> list[Path]:
    """The folder, and the entries in it (and in the folders MaskLoop writes into), that
    are links."""
    if os.path.islink(folder):
        return [folder]
    if not folder.is_dir():
        return []
    found = []
    for sub in (folder,) + tuple(folder / n for n in LINKED_ENTRIES):
        if sub != folder and os.path.islink(sub):
            continue  # already listed as an entry of the folder
        try:
            with os.scandir(sub) as entries:
                found += [Path(e.path) for e in entries if e.is_symlink()]
        except (FileNotFoundError, NotADirectoryError):
            continue
    return found


def state_folder(base: Path | str) -> tuple[Path, str | None]:
    """(the state folder of the dataset in `base`, a warning when it is not `.maskloop`)."""
    base = Path(base)
    own = base / STATE_DIR
    links = _links(own)
    not_a_folder = own.exists() and not os.path.islink(own) and not own.is_dir()
    if not links and not not_a_folder:
        return own, None
    real = os.path.realpath(base)
    key = hashlib.sha1(real.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(real))[:40] or "root"
    elsewhere = user_state_root() / f"{name}-{key}"
    why = (f"{links[0]} is a link (to {os.path.realpath(links[0])})" if links
           else f"{own} is not a folder")
    return elsewhere, (f"{why}; MaskLoop keeps this dataset's state (recovery, cached "
                       f"predictions, effort record, model versions, training runs) in "
                       f"{elsewhere} instead")
