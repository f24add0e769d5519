"""The current model as a plain object: which weights, on which device, at which
sizes. The toolbar's combo boxes only display it; whoever changes it calls choose()."""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from .workers import ModelSpec


class ModelSelection(QObject):
    changed = Signal(object)  # ModelSpec: load this model now
    reverted = Signal(object)  # ModelSpec: back to this one, which is loaded already

    def __init__(self, weights: str = "coco", device: str = "auto",
                 min_size: int | None = None, max_size: int | None = None):
        super().__init__()
        self.spec = ModelSpec(weights=weights, device=device, min_size=min_size,
                              max_size=max_size)

    @property
    def weights(self) -> str:
        return self.spec.weights

    @property
    def device(self) -> str:
        return self.spec.device

    def choose(self, weights: str | None = None, device: str | None = None) -> None:
        """Select (and load) a model; choosing the current one again reloads it, so a
        checkpoint retrained in place is picked up."""
        self.spec = replace(self.spec, weights=weights or self.spec.weights,
                            device=device or self.spec.device)
        self.changed.emit(self.spec)

    def on_cpu(self) -> None:
        """The same model on the CPU (after a GPU ran out of memory)."""
        self.choose(device="cpu")

    def revert(self, spec: ModelSpec) -> None:
        """Back to the model still in use (the one chosen after it failed to load)."""
        self.spec = spec
        self.reverted.emit(spec)
