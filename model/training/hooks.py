"""What attaches to a training run without threading flags through it (detectron2's
trainer hooks, in small): the CLI's progress, the GUI's process (through the CLI's JSON
lines), the audit's folds (which keep the trained module), and learning while a person
works (learn.py: new images between iterations, held-out evaluation at its checkpoints).

A hook overrides what it needs. Events are plain dicts (the `--progress jsonl` lines);
`checkpoint` is called for each checkpoint event as well, `evaluated` with each
validation report. Only the main process's hooks hear events; every process's hooks
are called between iterations."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from model.training.loop import Loop

Emit = Callable[[dict], None]


class Hook:
    def event(self, e: dict) -> None:
        """Every progress event (start, iter, val, checkpoint, info, warning, done...)."""

    def checkpoint(self, e: dict) -> None:
        """A checkpoint was written (the event: path, iteration, best, resume_state)."""

    def evaluated(self, report: dict, loop: "Loop") -> None:
        """The model was measured on the held-out images (the evaluation report)."""

    def after_step(self, loop: "Loop") -> None:
        """Between two iterations: the place to change the data or measure the model."""

    def after_train(self, loop: "Loop", summary: dict) -> None:
        """The run ended (finished or stopped); `summary` is its done event."""


class EmitHook(Hook):
    """A plain callback for the events (what run_training's `emit` was)."""

    def __init__(self, emit: Emit):
        self.emit = emit

    def event(self, e: dict) -> None:
        self.emit(e)


class KeepModel(Hook):
    """Keeps the trained module when the run ends (the audit's folds predict with it)."""

    model = None

    def after_train(self, loop: "Loop", summary: dict) -> None:
        self.model = loop.module


class Hooks:
    """The hooks of one run, called in order."""

    def __init__(self, hooks: Iterable[Hook] = (), main: bool = True):
        self.hooks = list(hooks)
        self.main = main  # only the main process reports

    def add(self, hook: Hook) -> None:
        self.hooks.append(hook)

    def say(self, e: dict) -> None:
        if not self.main:
            return
        for h in self.hooks:
            h.event(e)
        if e.get("event") == "checkpoint":
            for h in self.hooks:
                h.checkpoint(e)

    def evaluated(self, report: dict, loop: "Loop") -> None:
        for h in self.hooks:
            h.evaluated(report, loop)

    def after_step(self, loop: "Loop") -> None:
        for h in self.hooks:
            h.after_step(loop)

    def after_train(self, loop: "Loop", summary: dict) -> None:
        for h in self.hooks:
            h.after_train(loop, summary)
