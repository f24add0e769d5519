"""The app's preferences as one typed object, with every default in one place.

QSettings stores strings on some platforms (INI files, Linux), so each value is
read back through its field's type; a value that does not parse falls back to the
default instead of breaking the start-up.

Keyboard shortcuts are the one exception to "every default here": their defaults are
the action table's keys (app/window/actions.py), and only the actions a user changed
are stored, one key list per action in the `shortcuts` group, so a later default
still reaches every action nobody changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from PySide6.QtCore import QByteArray, QSettings


SHORTCUTS = "shortcuts"  # the QSettings group of changed keyboard shortcuts


def _bool(v) -> bool:
    return v if isinstance(v, bool) else str(v).strip().lower() in ("true", "1", "yes")


def _list(v) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else [str(x) for x in v]


@dataclass
class Settings:
    threshold: float = 0.5  # score threshold: predictions under it are not shown
    auto_threshold: bool = True  # Auto: the offer gate's threshold is in force instead
    opacity: float = 0.45  # overlay fill
    labels: bool = True
    color_by_class: bool = False
    auto_predict: bool = True
    autosave_seconds: int = 60
    weights: str = "coco"
    device: str = "auto"
    last_folder: str = ""
    recent: list[str] = field(default_factory=list)
    geometry: QByteArray | None = None
    window_state: QByteArray | None = None
    # action objectName -> its keys as portable text ([] = no key); changed actions only
    shortcuts: dict[str, list[str]] = field(default_factory=dict)
    store: QSettings | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, store: QSettings) -> "Settings":
        out = cls(store=store)
        store.beginGroup(SHORTCUTS)
        out.shortcuts = {name: _list(store.value(name)) for name in store.childKeys()}
        store.endGroup()
        for f in fields(cls):
            if f.name in ("store", SHORTCUTS) or not store.contains(f.name):
                continue
            raw, default = store.value(f.name), getattr(out, f.name)
            try:
                if f.name == "recent":
                    value = _list(raw)
                elif isinstance(default, bool):
                    value = _bool(raw)
                elif isinstance(default, (int, float)):
                    value = type(default)(float(raw))
                elif isinstance(default, str):
                    value = str(raw)
                else:
                    value = raw
            except (TypeError, ValueError):
                continue
            setattr(out, f.name, value)
        return out

    def save(self) -> None:
        if self.store is None:
            return
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in ("store", SHORTCUTS) and value is not None:
                self.store.setValue(f.name, value)
        self.store.remove(SHORTCUTS)  # an action reset to its default has no entry
        self.store.beginGroup(SHORTCUTS)
        for name, keys in sorted(self.shortcuts.items()):
            self.store.setValue(name, list(keys))
        self.store.endGroup()
        self.store.sync()
