"""Building a training run, apart from running it (loop.py): the data and its loader,
the model where it starts, the optimiser and schedule, and the resume state. Each part
is a small dataclass the Loop takes by keyword.

The order of what is built is the order of what draws from torch's generator (the
model's random init first): a run that is resumed must draw as the uninterrupted one
did. Seeding the generators is the entry point's (model/training/rng.py seed_all): a
library called inside another program (the audit's folds) must not reseed its caller.
"""
from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import BatchSampler, DataLoader

from model.data.annotations import Dataset
from model.errors import TrainingError, UsageError, WeightsError
from model.formats.sources import open_path
from model.net import checkpoint_file as C
from model.net.norms import infer_norm
from model.net.checkpoint_schema import optimizer_fits
from model.net.sizes import size_problem
from model.training.anchors import fit_anchor_sizes, input_boxes
from model.training.run_checkpoints import Checkpointer, RunState, restore
from model.training.config import TrainConfig, lr_factor
from model.training.data import (EpochSampler, GroupedBatchSampler, LabelTable, ResumableBatches,
                                 Sample, TrainSet, class_counts, collate, select_samples,
                                 split_train_val)
from model.training.distributed import Dist, init_distributed
from model.training.hooks import Hooks
from model.training.start import start_model

Emit = Callable[[dict], None]


@dataclass
class Data:
    """The dataset, its label table and what is trained and validated on."""
    ds: Dataset
    labels: LabelTable
    train: list[Sample]
    val: list[Sample]


@dataclass
class Feed:
    """What the loop draws its batches from: rebuilt when the training images change."""
    train: list[Sample]
    loader: DataLoader
    sampler: EpochSampler
    batches: ResumableBatches
    workers: int

    @property
    def per_epoch(self) -> int:
        return max(1, len(self.loader))


@dataclass
class Net:
    """What is trained: the module (wrapped by DistributedDataParallel under torchrun)."""
    model: torch.nn.Module
    arch: str
    labels: LabelTable
    device: torch.device
    params: list
    clip: float  # max gradient norm (0: off)
    amp_dtype: torch.dtype | None  # None: no autocast
    started_from: str
    lineage: frozenset  # image files the start weights were trained on

    @property
    def module(self) -> torch.nn.Module:
        return self.model.module if hasattr(self.model, "module") else self.model


@dataclass
class Optim:
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler


@dataclass
class Run:
    """Everything a Loop needs, built and not yet run."""
    cfg: TrainConfig
    d: Dist
    data: Data
    feed: Feed
    net: Net
    optim: Optim
    state: RunState
    total: int | None  # None: until stopped (continuous)
    saver: Checkpointer
    model_id: str
    rng: dict | None  # the resume file's random state, put back just before the first step


# ------------------------------------------------------------------------------ parts

def loader_workers(requested: int, compute_threads: int, ranks_here: int,
                   on_gpu: bool = False) -> int:
    """Loader processes only on cores the model's threads leave free: on a 2-core
    machine a worker would steal time from the very computation it should feed.
    On a GPU the model needs one core per rank (to launch kernels), and decoding in
    the main process would leave the GPU waiting, so the workers get the rest."""
    per_rank = 1 if on_gpu else compute_threads
    spare = (os.cpu_count() or 1) - per_rank * ranks_here
    return max(0, min(requested, spare))


def load_data(cfg: TrainConfig, say: Emit) -> Data:
    """The dataset, its label table and the train/val split; warnings go out as events
    (an unreadable image is an error the run survives: the GUI names the files)."""
    ds = open_path(cfg.coco, cfg.images, crowd_as_instances=cfg.crowd_as_instances,
                   follow_symlinks=cfg.follow_symlinks)
    samples, warnings = select_samples(ds, cfg.all_images, cfg.include_corrected)
    say_warnings(warnings, say)
    train_s, val_s = split_train_val(samples, cfg.val_fraction, cfg.seed)
    return Data(ds, LabelTable.from_dataset(ds), train_s, val_s)


def say_warnings(warnings: list[str], say: Emit) -> None:
    for w in warnings:
        say({"event": "warning", "message": w})
    bad = [w for w in warnings if w.startswith("skipped, unreadable")]
    if bad:
        say({"event": "error", "fatal": False, "files": bad,
             "message": f"{len(bad)} unreadable image(s) skipped: {bad[0]}"})


def train_sizes(cfg: TrainConfig) -> tuple[int, ...]:
    """The min_size values a batch is drawn at (scale jitter), or just min_size."""
    import numpy as np
    jitter = cfg.scale_jitter
    if not jitter:
        return (cfg.min_size,)
    return tuple(sorted({int(round(cfg.min_size * (1 + f)))
                         for f in np.linspace(-jitter, jitter, 9)}))


def make_feed(cfg: TrainConfig, train_s: list[Sample], labels: LabelTable, d: Dist,
              device: torch.device) -> Feed:
    """The loader over a resumable, epoch-seeded sampler."""
    # an image larger than the transform's largest draw is shrunk to it in the loader
    trainset = TrainSet(train_s, labels, cfg.hflip, fit=(max(train_sizes(cfg)), cfg.max_size))
    sampler = EpochSampler(len(trainset), cfg.seed, cfg.hflip, d.rank, d.world,
                           min_len=cfg.eval_every * cfg.batch_size if cfg.continuous else 0)
    batches = ResumableBatches(
        GroupedBatchSampler(sampler, trainset.aspect_groups(), cfg.batch_size)
        if cfg.batch_size > 1 else BatchSampler(sampler, 1, drop_last=False))
    workers = loader_workers(cfg.workers, torch.get_num_threads(), d.world, device.type == "cuda")
    # the loader's own generator seeds its workers: torch's global one then draws only in
    # the model, so the random state saved between two iterations is all a resume needs
    loader = DataLoader(trainset, batch_sampler=batches, num_workers=workers,
                        collate_fn=collate, pin_memory=device.type == "cuda",
                        persistent_workers=workers > 0,
                        prefetch_factor=4 if workers > 0 else None,
                        generator=torch.Generator().manual_seed(cfg.seed))
    return Feed(train_s, loader, sampler, batches, workers)


# ------------------------------------------------------------------------------ a run

def prepare(cfg: TrainConfig, hooks: Hooks,
            data: Callable[[TrainConfig, Emit], Data] = load_data) -> Run:
    """Build a run (nothing trains yet). Raises TrainingDataError / TrainingError /
    WeightsError, and UsageError for sizes a checkpoint could not hold (what training
    writes must load back). `data` loads what to train on (learn.py waits for it)."""
    problem = size_problem(cfg.min_size, cfg.max_size)
    if problem:
        raise UsageError(f"cannot train at these sizes: {problem}")
    d, device = init_distributed(cfg.device)
    if cfg.continuous and d.on:
        raise UsageError("continuous training runs in one process; start it without torchrun")
    hooks.main = d.main
    say = hooks.say
    if d.main:
        stale = C.remove_stale_run_temps(cfg.out)
        if stale:
            say({"event": "info", "message": f"removed {len(stale)} temp file(s) that a killed "
                 f"checkpoint write left: {', '.join(p.name for p in stale)}"})
    got = data(cfg, say)
    start = start_model(cfg, got.labels, say, d.main, fit=lambda: fit_anchor_sizes(
        input_boxes([s.rec for s in got.train], cfg.min_size, cfg.max_size)))
    model, resume_ck = start.model, start.resume
    random_init = str(cfg.weights).lower() == "none" and resume_ck is None
    sizes = train_sizes(cfg)
    model.to(device).train()
    model.transform.min_size = sizes  # torchvision picks one per batch while training
    model.roi_heads.fg_bg_sampler.batch_size_per_image = cfg.rois_per_image
    feed = make_feed(cfg, got.train, got.labels, d, device)
    total = None if cfg.continuous else \
        cfg.iterations if cfg.iterations else cfg.epochs * feed.per_epoch
    params = [p for p in model.parameters() if p.requires_grad]
    lr = cfg.learning_rate(random_init) * (d.world if cfg.lr is None else 1)  # linear scaling
    opt = torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    # a continuous run from a model already trained on these classes (its heads kept) goes
    # on at its rate: no warm-up again
    trained_start = cfg.continuous and resume_ck is None and \
        start.checkpoint.get("history") is not None and \
        start.checkpoint.get("categories") == got.labels.to_json()
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_factor(cfg, total, warmup=0 if trained_start else None))
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    st, rng = RunState(), None
    started_from = start.started_from
    if resume_ck is not None:
        st, rng = restore(resume_ck, opt, sched, scaler, C.last_path(cfg.out), d.rank, d.world,
                          say)
        started_from = resume_ck.get("started_from", started_from)
    elif trained_start:
        _continue_optimizer(start.checkpoint, opt, say)
    if d.on:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)  # an image without instances skips the mask head
    model_id = cfg.model_id or (resume_ck or {}).get("model_id") or \
        f"{Path(cfg.out).stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    net = Net(model, start.arch, got.labels, device, params,
              cfg.clip_norm(infer_norm(model.state_dict())), amp_dtype if use_amp else None,
              started_from, start.lineage)
    counts = class_counts(got.train, got.ds)
    say({"event": "start", "train_images": len(got.train), "val_images": len(got.val),
         "instances": counts, "iterations": total, "start_iteration": st.iteration,
         "epochs": None if total is None else -(-total // feed.per_epoch),
         "batch_size": cfg.batch_size, "lr": lr, "device": str(device), "world_size": d.world,
         "loader_workers": feed.workers, "arch": start.arch, "weights": started_from,
         "min_sizes": list(sizes), "continuous": cfg.continuous,
         "amp": str(amp_dtype).split(".")[-1] if use_amp else "off"})
    saver = Checkpointer(
        model, opt, sched, scaler, Path(cfg.out), start.arch, got.labels.to_json(), cfg.min_size,
        cfg.max_size, model_id, has_val=bool(got.val) and not cfg.continuous, say=say, d=d,
        every_s=cfg.checkpoint_every_s,
        meta={"started_from": started_from, "train_config": _plain(asdict(cfg)),
              "data": data_meta(cfg, got.train, got.val, counts, start.lineage)})
    return Run(cfg, d, got, feed, net, Optim(opt, sched, scaler), st, total, saver, model_id, rng)


def data_meta(cfg: TrainConfig, train_s: list[Sample], val_s: list[Sample],
              counts: dict, lineage: frozenset) -> dict:
    """What a checkpoint records of its data; train_files is what an evaluation must not
    count as unseen (Evaluate on done images), the start weights' included."""
    return {"coco": str(cfg.coco), "train_images": len(train_s), "val_images": len(val_s),
            "instances": counts,
            "train_files": sorted(lineage | {s.rec.file_name for s in train_s})}


def _continue_optimizer(ck: dict, opt: torch.optim.Optimizer, say: Emit) -> None:
    """A start checkpoint that holds its optimizer (a resume state given as --weights):
    its momentum goes on. One that does not fit is left, said once."""
    state = ck.get("optimizer")
    if not isinstance(state, dict):
        return
    lrs = [g["lr"] for g in opt.param_groups]
    try:
        opt.load_state_dict(state)
        optimizer_fits(opt, "the start weights")
    except (ValueError, KeyError, TypeError, RuntimeError, WeightsError) as e:
        opt.state = defaultdict(dict)
        say({"event": "info", "message": f"the start weights' optimizer state does not fit "
             f"this run ({e}); it starts with none"})
        return
    for g, lr in zip(opt.param_groups, lrs):  # this run's rate, its momentum
        g["lr"] = g["initial_lr"] = lr


def resume_random_state(rng: dict, device, cfg: TrainConfig) -> None:
    from model.training.rng import set_rng_state
    try:
        set_rng_state(rng, device)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise TrainingError(f"--resume: {C.last_path(cfg.out)} holds a random state this "
                            f"run cannot take ({e}); start a new run instead") from None


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj
