"""When a training run writes its checkpoints, and what goes in them.

A run keeps two files: OUT, the model to use (best by val segm AP; the latest when
nothing is held out), and OUT.last.pt, everything a resume needs to go on exactly as if
it had never stopped: optimizer, scheduler, scaler, every rank's random state, the epoch
and the position in it, the partial epoch's losses and images. Each is written atomically with fsync and weighs hundreds of MB: writing both
after every epoch cost 2-3 s an epoch, 8 % of a 300-iteration run on nuclei crops. So the
resume state is written every `every_s` seconds of training and when the run ends
(finished, cancelled, or stopped by a non-finite loss, which is caught before the step so
the weights are still the last good ones); OUT whenever validation improves, and with the
resume state when there is no validation. A run stopped inside an epoch is saved there,
unvalidated: OUT then keeps the best validated model.

Nothing non-finite is ever written over a good checkpoint: before each write the weights
(and the optimizer's buffers, which the next steps would add to them) are checked, on every
rank together; a NaN there stops the run with TrainingError and the files stay as they were.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from model.data.atomic import atomic_write_json
from model.errors import TrainingError, WeightsError
from model.net import checkpoint_file as C
from model.net.checkpoint_schema import non_finite_problem, optimizer_fits, optimizer_tensors
from model.training.distributed import Dist, any_rank

RESUME_ONLY = ("optimizer", "scheduler", "scaler", "rng", "world", "epoch_progress")


@dataclass
class RunState:
    """Where a run is: what a resume restores and the checkpoints record."""
    epoch: int = 0
    iteration: int = 0
    history: list = field(default_factory=list)
    best_ap: float | None = None
    position: int = 0  # batches of this epoch already trained on (or skipped as unreadable)
    seen: list = field(default_factory=list)  # image ids trained on this epoch
    epoch_losses: dict = field(default_factory=dict)  # loss term -> values this epoch
    rng: list | None = None  # every rank's random state (rng.py), gathered to save
    seen_by_rank: list | None = None  # every rank's `seen`, gathered with rng
    val_report: dict | None = None  # this epoch's evaluation report, written beside OUT


def eval_path(out: Path) -> Path:
    """The evaluation report of the model saved as OUT (its val split, per class): the
    app's Evaluation dock reads it from the run's folder."""
    out = Path(out)
    return out.with_name(out.stem + ".eval.json")


def restore(ck: dict, opt, sched, scaler, path: Path, rank: int, world: int,
            say: Callable[[dict], None]) -> tuple[RunState, dict | None]:
    """The run state of a resume file, its optimizer, schedule and scaler loaded, and this
    rank's random state (None when the file has none for it: written by an older MaskLoop,
    or by another number of processes; the run then goes on, but not exactly)."""
    try:
        opt.load_state_dict(ck["optimizer"])
        optimizer_fits(opt, path)  # values and types were checked on load (C.load)
        sched.load_state_dict(ck["scheduler"])
        if "scaler" in ck and scaler.is_enabled():
            scaler.load_state_dict(ck["scaler"])
        st = RunState(int(ck["epoch"]), int(ck["iteration"]), list(ck["history"]),
                      ck.get("best_segm_ap"))
        progress = ck.get("epoch_progress") or {}
        st.position = int(progress.get("position", 0))
        seen = progress.get("seen", [])  # one list per rank
        if len(seen) != world:  # another number of processes: rank 0 keeps the record
            seen = [[i for part in seen for i in part]] + [[]] * (world - 1)
        st.seen = [int(i) for i in seen[rank]]
        st.epoch_losses = {str(k): [float(x) for x in v]
                           for k, v in progress.get("losses", {}).items()}
        rngs = ck.get("rng")
        if rngs is not None and not isinstance(rngs, list):
            raise TypeError("rng is not a list")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise WeightsError(f"{path}: not a resume state MaskLoop can continue from "
                           f"({type(e).__name__}: {e})") from None
    saved_world = int(ck.get("world") or world)
    if saved_world != world and st.position:
        st.position = st.position * saved_world // world  # the same share of the epoch
    if rngs is None or len(rngs) != world:
        say({"event": "info", "message": f"{path} has no random state for {world} "
             "process(es): the run goes on from it, but not exactly as it would have"})
        return st, None
    return st, rngs[rank]


@dataclass
class Checkpointer:
    model: Any  # the module being trained (DDP-wrapped or not)
    opt: Any
    sched: Any
    scaler: Any
    out: Path
    arch: str
    categories: list[dict]
    min_size: int
    max_size: int
    model_id: str
    meta: dict  # started_from, train_config, data: stored as they are
    has_val: bool
    say: Callable[[dict], None]
    d: Dist = field(default_factory=Dist)  # only rank 0 writes; every rank checks
    every_s: float = 600.0
    saved_at: float = field(default_factory=time.perf_counter)

    @property
    def main(self) -> bool:
        return self.d.main

    def after_epoch(self, st, final: bool, status: str | None = None) -> None:
        """At the end of an epoch: OUT if validation improved; the resume state when due."""
        self.check_finite(st)
        if not self.main:
            return
        ap = st.history[-1].get("val", {}).get("segm", {}).get("AP") if st.history else None
        improved = self.has_val and ((ap is not None and (st.best_ap is None or ap >= st.best_ap))
                                     or not Path(self.out).exists())
        if improved and ap is not None:
            st.best_ap = ap
        due = final or time.perf_counter() - self.saved_at >= self.every_s
        if improved or due:
            self._write(st, best=improved or not self.has_val, last=due, status=status)
        if improved and st.val_report is not None:  # the report of the model OUT holds
            atomic_write_json(eval_path(self.out), st.val_report)
        st.val_report = None

    def now(self, st, status: str) -> None:
        """The run stops here, inside an epoch (cancelled, or a non-finite loss): keep its
        last good state to resume from this very point."""
        self.check_finite(st)
        if self.main:
            self._write(st, best=not self.has_val or not Path(self.out).exists(), last=True,
                        status=status)

    def snapshot(self, st) -> None:
        """The model as it is at this iteration, kept beside OUT (a learning curve)."""
        self.check_finite(st)
        if self.main:
            self._write(st, best=False, last=False, status=None, to=C.snapshot_path(self.out, st.iteration))

    def candidate(self, st, path: Path, model_id: str) -> None:
        """The model as it is now, as a version of its own (a continuous run's model that
        beat the version in use): named `model_id`, kept at `path`."""
        self.check_finite(st)
        if self.main:
            self._write(st, best=False, last=False, status=None, to=path, model_id=model_id)

    def check_finite(self, st) -> None:
        """Raise TrainingError, on every rank, when a weight or an optimizer buffer is NaN
        or infinite: a step can make them so while its loss was finite (the next loss
        would say so, but the last step of a run has no next). One device sync when all
        is well; the files keep the last good state."""
        m = self.model.module if hasattr(self.model, "module") else self.model
        problem = non_finite_problem(
            list(m.state_dict().items()) + optimizer_tensors(self.opt.state_dict()))
        if not any_rank(self.d, problem is not None):
            return
        problem = problem or "another process's weights are not finite"
        raise TrainingError(f"non-finite weights at iteration {st.iteration} ({problem}); "
                            f"training stopped and {kept(self.out)}. Try a lower --lr (e.g. "
                            "half) or a longer warm-up.")

    def _write(self, st, best: bool, last: bool, status: str | None,
               to: Path | None = None, model_id: str | None = None) -> None:
        extra = dict(self.meta, epoch=st.epoch, iteration=st.iteration, best_segm_ap=st.best_ap)
        if last:
            extra.update(optimizer=self.opt.state_dict(), scheduler=self.sched.state_dict(),
                         rng=st.rng, world=len(st.rng or [None]),
                         epoch_progress={"position": st.position,
                                         "seen": st.seen_by_rank or [list(st.seen)],
                                         "losses": {k: list(v) for k, v in st.epoch_losses.items()}})
            if self.scaler.is_enabled():
                extra["scaler"] = self.scaler.state_dict()
        ck = C.make(self.model, arch=self.arch, categories=self.categories,
                    min_size=self.min_size, max_size=self.max_size, history=st.history,
                    model_id=model_id or self.model_id, extra=extra)
        if last:
            C.save(C.last_path(self.out), ck)
            self.saved_at = time.perf_counter()
        lean = {k: v for k, v in ck.items() if k not in RESUME_ONLY}
        if best:
            C.save(Path(self.out), lean)
        if to is not None:
            C.save(to, lean)
        self.say({"event": "checkpoint", "path": str(to or self.out), "last": str(C.last_path(self.out)),
                  "best": best, "resume_state": last, "iteration": st.iteration,
                  "status": status})


def kept(out: Path) -> str:
    """What a failed run leaves to go on from, for its error message."""
    last = C.last_path(out)
    return f"the last good checkpoint is kept at {last}" if last.exists() else \
        "no checkpoint had been written yet"
