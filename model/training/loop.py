"""The training loop's moving parts, one job each: `step` trains one batch (a NaN never
reaches the weights; out-of-memory names the batch), `epoch` runs one pass of the loader
(stop checks, checkpoint state, the epoch's history entry and validation), `run` runs
epochs until the end, a stop, or for ever (continuous). prepare.py builds what it runs;
hooks (hooks.py) hear its events and act between its iterations.
"""
from __future__ import annotations

import datetime as dt
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.distributed as dist

from model.errors import TrainingError
from model.training.run_checkpoints import Checkpointer, RunState, kept
from model.training.distributed import Dist, any_rank, gather_all
from model.training.hooks import Hooks
from model.training.rng import rng_state, torch_rng_state

if TYPE_CHECKING:
    from model.training.config import TrainConfig
    from model.training.prepare import Feed, Net, Optim


class Loop:
    """One run's model, optimiser, data and state, given by keyword in a few parts."""

    def __init__(self, *, cfg: TrainConfig, dist: Dist, net: Net, optim: Optim, feed: Feed,
                 state: RunState, saver: Checkpointer, total: int | None, hooks: Hooks,
                 validation: Callable[[], dict] | None = None,
                 cancel: threading.Event | None = None):
        self.cfg, self.d, self.net, self.optim, self.feed = cfg, dist, net, optim, feed
        self.st, self.saver, self.total, self.hooks = state, saver, total, hooks
        self.validation = validation  # the val split's figures, on rank 0
        self.cancel = cancel
        self.device = net.device
        self.started = time.perf_counter()
        self.it_times: list[float] = []
        self._next_feed: Feed | None = None
        self.stages: dict = {}

    @property
    def model(self) -> torch.nn.Module:
        return self.net.model

    @property
    def module(self) -> torch.nn.Module:
        """The model itself (without DistributedDataParallel's wrapper)."""
        return self.net.module

    def say(self, e: dict) -> None:
        self.hooks.say(e)

    def use_feed(self, feed: Feed) -> None:
        """Train on other images from the next batch on (a continuous run's new data): the
        epoch going on ends after this iteration, and the next one is the new feed's."""
        self._next_feed = feed

    def run(self) -> str | None:
        """Epochs until the total, or until stopped; returns "cancelled" when stopped."""
        stop_reason = None
        while (self.total is None or self.st.iteration < self.total) and stop_reason is None:
            if self._next_feed is not None:
                self.feed, self._next_feed = self._next_feed, None
            stop_reason = self.epoch()
        return stop_reason

    # ------------------------------------------------------------------ one batch
    def step(self, images: list, targets: list[dict]) -> dict[str, float]:
        """One optimiser step on the batch; returns the loss terms. Raises TrainingError
        on a non-finite loss or gradient (the last good weights saved first) and on
        running out of memory (with sizes to try)."""
        cfg, d, st = self.cfg, self.d, self.st
        opt, scaler = self.optim.opt, self.optim.scaler
        t0 = time.perf_counter()
        before = torch_rng_state(self.device)  # a resume from a non-finite loss starts here
        images = [im.to(self.device, non_blocking=True) for im in images]
        targets = [{k: v.to(self.device, non_blocking=True) for k, v in t.items()
                    if k != "image_id"} for t in targets]
        stages = {}
        try:
            t1 = time.perf_counter()
            stages["to_device"] = t1 - t0
            amp_dtype = self.net.amp_dtype
            with torch.autocast("cuda", dtype=amp_dtype or torch.float16,
                                enabled=amp_dtype is not None):
                losses = self.model(images, targets)
            loss = sum(losses.values())
            t2 = time.perf_counter()
            stages["forward"] = t2 - t1
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            t3 = time.perf_counter()
            stages["backward"] = t3 - t2
            norm = None
            if self.net.clip:
                scaler.unscale_(opt)
                norm = torch.nn.utils.clip_grad_norm_(self.net.params, self.net.clip)
            stages["clip"] = time.perf_counter() - t3
            # one device sync per iteration: the loss terms and the gradient norm come
            # back together, checked before the step (a NaN never reaches the weights)
            values, norm_value = fetch_losses(losses, norm)
            bad = "loss" if any_rank(d, not math.isfinite(sum(values.values()))) else \
                "gradient" if norm_value is not None and not scaler.is_enabled() and \
                any_rank(d, not math.isfinite(norm_value)) else None
            if bad:  # the weights are still the last good ones: saved as they were
                share(d, st, rng_state(self.device, before))
                self.saver.now(st, "non-finite")
                raise TrainingError(nan_message(st.iteration + 1, values, cfg, bad))
            t4 = time.perf_counter()
            scaler.step(opt)
            scaler.update()
            self.optim.sched.step()
            stages["step"] = time.perf_counter() - t4
        except TrainingError:
            raise
        except RuntimeError as e:
            if is_oom(e):
                raise TrainingError(
                    f"a batch of {cfg.batch_size} image(s) at min_size {cfg.min_size} does "
                    f"not fit in {self.device} memory; try --batch-size "
                    f"{max(1, cfg.batch_size // 2)} or --min-size {int(cfg.min_size * 0.75)}"
                ) from None
            raise
        self.stages = stages
        return values

    # ------------------------------------------------------------------ one epoch
    def epoch(self) -> str | None:
        """One pass of the loader (from st.position when a resume goes on inside it);
        returns "cancelled" when asked to stop, else None."""
        cfg, d, st, say = self.cfg, self.d, self.st, self.say
        feed = self.feed
        stop_reason = None
        feed.sampler.set_epoch(st.epoch)
        feed.batches.skip = st.position  # 0, unless a resume goes on inside this epoch
        waited = time.perf_counter()
        for images, targets, errors in feed.loader:
            for e in errors:
                say({"event": "warning", "message": f"skipped, unreadable: {e}"})
            if not images:
                st.position += 1
                continue
            t0 = time.perf_counter()
            ids = [int(t["image_id"]) for t in targets]
            values = self.step(images, targets)
            stages = {"data": t0 - waited, **self.stages}  # host seconds a stage
            st.iteration += 1
            st.position += 1
            st.seen += ids
            for k, v in values.items():
                st.epoch_losses.setdefault(k, []).append(v)
            if st.iteration in cfg.snapshots:
                self.saver.snapshot(st)
            self._report(values, stages, t0)
            if any_rank(d, self.stopping()):
                stop_reason = "cancelled"
                break
            self.hooks.after_step(self)
            if self._next_feed is not None or \
                    (self.total is not None and st.iteration >= self.total):
                break
            waited = time.perf_counter()
        if stop_reason is not None and st.position < feed.per_epoch:
            share(d, st, rng_state(self.device))  # a resume goes on from this batch
            self.saver.now(st, stop_reason)
            return stop_reason
        self._close_epoch()
        share(d, st, rng_state(self.device))
        final = stop_reason is not None or (self.total is not None and st.iteration >= self.total)
        self.saver.after_epoch(st, final=final, status=stop_reason)
        if d.on:
            dist.barrier()
        return stop_reason

    def stopping(self) -> bool:
        """Asked to stop (the cancel event, or the stop file the app touches)?"""
        cfg = self.cfg
        return (self.cancel is not None and self.cancel.is_set()) or \
            (cfg.stop_file is not None and Path(cfg.stop_file).exists())

    def _report(self, values: dict, stages: dict, t0: float) -> None:
        st = self.st
        self.it_times.append(time.perf_counter() - t0)
        recent = self.it_times[-20:]
        per_it = (time.perf_counter() - self.started) / max(1, len(self.it_times))
        self.say({"event": "iter", "iteration": st.iteration, "total": self.total,
                  "epoch": st.epoch + 1, "losses": values, "loss": sum(values.values()),
                  "lr": self.optim.opt.param_groups[0]["lr"],
                  "images_per_s": self.cfg.batch_size * self.d.world / (sum(recent) / len(recent)),
                  "eta_s": None if self.total is None else per_it * (self.total - st.iteration),
                  "stages": stages})

    def _close_epoch(self) -> None:
        """The epoch's history entry (losses, the images each rank saw, validation)."""
        st, d = self.st, self.d
        st.epoch += 1
        entry = {"epoch": st.epoch, "iteration": st.iteration,
                 "losses": {k: float(np.mean(v)) for k, v in st.epoch_losses.items()},
                 "lr": self.optim.opt.param_groups[0]["lr"],
                 "time": dt.datetime.now().isoformat(timespec="seconds"),
                 "seen": gather_all(d, st.seen)}  # image ids each rank trained on, this epoch
        st.position, st.seen, st.epoch_losses = 0, [], {}
        if self.validation is not None and d.main:
            self.say({"event": "validating", "epoch": st.epoch})
            report = self.validation()
            entry["val"] = {k: report[k] for k in ("bbox", "segm")}
            entry["val_per_class"] = report["per_class"]  # small: the curves stay in the report
            st.val_report = dict(report, epoch=st.epoch, iteration=st.iteration, split="val")
            self.say({"event": "val", "epoch": st.epoch, "metrics": entry["val"]})
            self.hooks.evaluated(report, self)
        st.history.append(entry)


def share(d, st: RunState, rng: dict) -> None:
    """Every rank's random state and images of this epoch, on rank 0, which saves them."""
    got = gather_all(d, (rng, list(st.seen)))
    st.rng, st.seen_by_rank = [g[0] for g in got], [g[1] for g in got]


def is_oom(e: BaseException) -> bool:
    return isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" \
        or "out of memory" in str(e).lower()


def fetch_losses(losses: dict, norm) -> tuple[dict[str, float], float | None]:
    """The loss terms (and the gradient norm) as Python floats, in one transfer."""
    parts = [v.detach().float() for v in losses.values()]
    if norm is not None:
        parts.append(norm.detach().float())
    got = torch.stack(parts).tolist()
    return dict(zip(losses, got)), (got[-1] if norm is not None else None)


def nan_message(iteration: int, values: dict, cfg: TrainConfig, what: str = "loss") -> str:
    shown = ", ".join(f"{k}={v:.3g}" for k, v in values.items())
    return (f"non-finite {what} at iteration {iteration} ({shown}); training stopped and "
            f"{kept(cfg.out)}. Try a lower --lr (e.g. half) or a longer warm-up.")
