"""Fine-tune Mask R-CNN on reviewed images. No Qt; runs in its own process (the GUI
starts it with QProcess) and under torchrun (DistributedDataParallel).

The model trained here is a separate copy: nothing that serves predictions is ever
switched to train(). Progress leaves through hooks (hooks.py; `emit(event_dict)` is one);
cancel is a threading.Event (or a stop file) checked every iteration, and stopping saves
a checkpoint. A non-finite loss raises TrainingError (never sys.exit). The parts: the
settings (config.py), building a run (prepare.py, over start.py and data.py), running it
(loop.py), resume state (run_checkpoints.py), learning while a person works (learn.py).
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

import torch.distributed as dist

from model.errors import Cancelled
from model.net import checkpoint_file as C
from model.net.predictor import Predictor
from model.training.config import TrainConfig
from model.training.data import LabelTable, Sample
from model.training.evaluation import TruthImage, evaluate_model, truth_record
from model.training.hooks import EmitHook, Hook, Hooks
from model.training.loop import Loop
from model.training.prepare import Run, prepare, resume_random_state

Emit = Callable[[dict], None]


def validate(model, arch: str, labels: LabelTable, val: list[Sample], device, read) -> dict:
    """COCOeval bbox/segm of the model on the held-out images, with the per-class figures,
    PR curves and confusion matrix of the same evaluation (model/metrics/per_class.py)."""
    m = model.module if hasattr(model, "module") else model
    was_training = m.training
    m.eval()
    try:
        pred = Predictor.from_model(m, [None] + list(labels.categories), device, "val", arch)
        images = [TruthImage(truth_record(s.rec), s.path) for s in val]
        report, _unreadable = evaluate_model(pred, list(labels.categories), images, read,
                                             adopt=False)
        return report
    finally:
        m.train(was_training)


def run_training(cfg: TrainConfig, emit: Emit | None = None,
                 cancel: threading.Event | None = None, hooks: Iterable[Hook] = ()) -> dict:
    """Train; returns the summary (the done event). `emit` hears every event; `hooks` are
    attached to the run (hooks.py: KeepModel keeps the trained module). Raises
    TrainingDataError / TrainingError / WeightsError, and UsageError for sizes a checkpoint
    could not hold. Leaves torch's thread count and the random generators' seeds to the
    caller (the CLI sets them once, at start)."""
    attached = Hooks(([EmitHook(emit)] if emit is not None else []) + list(hooks))
    if not cfg.continuous:
        return execute(prepare(cfg, attached), attached, cancel)
    from model.training.learn import Learner
    learner = Learner(cfg, cancel)
    attached.add(learner)
    try:
        run = prepare(cfg, attached, data=learner.first_data)
    except Cancelled:  # stopped while waiting for a first image: nothing was trained
        summary = {"event": "done", "status": "cancelled", "checkpoint": str(cfg.out),
                   "last": str(C.last_path(cfg.out)), "iterations": 0, "best_segm_ap": None,
                   "model_id": cfg.model_id, "seconds": 0.0}
        attached.say(summary)
        return summary
    return execute(run, attached, cancel, learner)


def execute(run: Run, hooks: Hooks, cancel: threading.Event | None = None,
            learner=None) -> dict:
    """Run a prepared run to its end (or until stopped); returns the done event."""
    cfg, d, net, data = run.cfg, run.d, run.net, run.data
    validation = None
    if data.val and not cfg.continuous:
        def validation():
            return validate(net.model, net.arch, data.labels, data.val, net.device,
                            trainset_read)
    loop = Loop(cfg=cfg, dist=d, net=net, optim=run.optim, feed=run.feed, state=run.state,
                saver=run.saver, total=run.total, hooks=hooks, validation=validation,
                cancel=cancel)
    if learner is not None:
        learner.attach(run, loop)
    if run.rng is not None:  # last: nothing between here and the first step draws from it
        resume_random_state(run.rng, net.device, cfg)
    stop_reason = loop.run()
    st = run.state
    summary = {"event": "done", "status": stop_reason or "finished", "checkpoint": str(cfg.out),
               "last": str(C.last_path(cfg.out)), "iterations": st.iteration,
               "best_segm_ap": st.best_ap, "model_id": run.model_id,
               "seconds": time.perf_counter() - loop.started}
    hooks.say(summary)
    if d.on:
        dist.destroy_process_group()
    hooks.after_train(loop, summary)
    return summary


def trainset_read(path):
    from model.data.images import read_image
    return read_image(path)
