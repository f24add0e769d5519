"""Fine-tune Mask R-CNN on reviewed images. No Qt; runs in its own process (the GUI
starts it with QProcess) and under torchrun (DistributedDataParallel).

The model trained here is a separate copy: nothing that serves predictions is ever
switched to train(). Progress leaves through `emit(event_dict)`; cancel is a
threading.Event (or a stop file) checked every iteration, and stopping saves a
checkpoint. A non-finite loss raises TrainingError (never sys.exit). The parts: the
start weights (start.py), the data and loader (here, over data.py), the step and the
epoch (loop.py), resume state (checkpoints.py).
"""
from __future__ import annotations

import datetime as dt
import math
import os
import random
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import BatchSampler, DataLoader

from model.data.annotations import Dataset
from model.errors import TrainingError, UsageError
from model.formats.sources import open_path
from model.net import checkpoint as C
from model.net.build import infer_norm
from model.net.predictor import Predictor
from model.net.sizes import size_problem
from model.training.checkpoints import Checkpointer, RunState, restore
from model.training.data import (EpochSampler, GroupedBatchSampler, LabelTable, ResumableBatches,
                                 Sample, TrainSet, class_counts, collate, select_samples,
                                 split_train_val)
from model.training.distributed import init_distributed
from model.training.evaluation import TruthImage, evaluate_model, truth_record
from model.training.loop import Loop
from model.training.rng import set_rng_state
from model.training.start import start_model

Emit = Callable[[dict], None]


@dataclass
class TrainConfig:
    coco: Path
    out: Path
    images: Path | None = None
    weights: str = "coco"
    epochs: int = 10
    iterations: int | None = None  # overrides epochs
    batch_size: int = 2
    lr: float | None = None  # default: 0.0025 per image (0.005 at batch 2)
    device: str = "auto"
    min_size: int = 800
    max_size: int = 1333
    val_fraction: float = 0.2
    crowd_as_instances: bool = False  # CVAT's brush masks come as crowd RLE
    follow_symlinks: bool = False  # open images and annotation files through outward links
    workers: int = 2
    resume: bool = False
    all_images: bool = False
    include_corrected: bool = False
    hflip: float = 0.5
    scale_jitter: float = 0.2  # min_size is drawn from +-20% per batch
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 100
    schedule: str = "cosine"  # or "step", or "constant" (warm-up only)
    clip_grad: float | None = None  # max gradient norm; 0: off; None: see clip_norm()
    amp: bool = True  # bf16/fp16 autocast on CUDA
    trainable_layers: int | None = None  # None: 3 with frozen norm, all 5 from scratch
    norm: str | None = None  # from random weights: "batch" (default) or "group" (model/norms.py)
    rois_per_image: int = 512  # box-head samples per image (detectron2's tutorial uses 128)
    seed: int = 0
    model_id: str | None = None
    stop_file: Path | None = None
    snapshots: tuple[int, ...] = ()  # also keep the model at these iterations (OUT.iterN.pt)
    checkpoint_every_s: float = 600.0  # resume state; also at the end (train_checkpoints.py)

    def clip_norm(self, norm: str) -> float:
        """Pretrained (frozen-norm) models are clipped at 10. A model learning from scratch
        (BatchNorm2d) has gradient norms of 100-1000 for its first hundred iterations:
        clipped at 10 they learned 0.06 val AP less in 300 iterations on nuclei
        (bench/learning.py). It is clipped at 100, which only catches what would blow up
        (batch size 1 diverges unclipped: tests/model/test_train.py)."""
        if self.clip_grad is not None:
            return self.clip_grad
        return 10.0 if norm == "frozen" else 100.0

    def learning_rate(self, random_init: bool) -> float:
        if self.lr is not None:
            return self.lr
        # the detection reference's rate, from random weights too: built with real
        # normalisation (model.net.build), a model from scratch trains at it (bench/learning.py)
        return 0.0025 * self.batch_size


# ----------------------------------------------------------------------------- helpers

def loader_workers(requested: int, compute_threads: int, ranks_here: int,
                   on_gpu: bool = False) -> int:
    """Loader processes only on cores the model's threads leave free: on a 2-core
    machine a worker would steal time from the very computation it should feed.
    On a GPU the model needs one core per rank (to launch kernels), and decoding in
    the main process would leave the GPU waiting, so the workers get the rest."""
    per_rank = 1 if on_gpu else compute_threads
    spare = (os.cpu_count() or 1) - per_rank * ranks_here
    return max(0, min(requested, spare))


def lr_factor(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    warm = max(1, min(cfg.warmup_iters, total // 2 or 1))

    def f(it: int) -> float:
        w = 0.001 + (1 - 0.001) * min(1.0, it / warm)
        if cfg.schedule == "step":
            s = 0.1 if it >= int(0.75 * total) else 1.0
        elif cfg.schedule == "constant":
            s = 1.0
        else:
            s = 0.5 * (1 + math.cos(math.pi * min(it, total) / max(total, 1)))
        return w * max(s, 0.01)
    return f


# -------------------------------------------------------------------------- validation

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


# ------------------------------------------------------------------------------ train

def run_training(cfg: TrainConfig, emit: Emit = lambda e: None,
                 cancel: threading.Event | None = None, keep_model: bool = False) -> dict:
    """Train; returns a summary (with the trained module under "model" if keep_model).
    Raises TrainingDataError / TrainingError / WeightsError, and UsageError for sizes a
    checkpoint could not hold (what training writes must load back). Leaves torch's
    thread count to the caller (the CLI sets it once, at start)."""
    problem = size_problem(cfg.min_size, cfg.max_size)
    if problem:
        raise UsageError(f"cannot train at these sizes: {problem}")
    d, device = init_distributed(cfg.device)
    say = emit if d.main else (lambda e: None)
    if d.main:
        stale = C.remove_stale_run_temps(cfg.out)
        if stale:
            say({"event": "info", "message": f"removed {len(stale)} temp file(s) that a killed "
                 f"checkpoint write left: {', '.join(p.name for p in stale)}"})
    # every generator a resume file records starts from the seed: unseeded, Python's came
    # from the process (os.urandom), so a resumed run's saved state was another run's
    torch.manual_seed(cfg.seed + d.rank)
    np.random.seed(cfg.seed + d.rank)
    random.seed(cfg.seed + d.rank)
    ds, labels, train_s, val_s = _data(cfg, say)
    model, arch, started_from, resume_ck, seen = start_model(cfg, labels, say, d.main)
    random_init = str(cfg.weights).lower() == "none" and resume_ck is None
    sizes = _train_sizes(cfg)
    model.to(device).train()
    model.transform.min_size = sizes  # torchvision picks one per batch while training
    model.roi_heads.fg_bg_sampler.batch_size_per_image = cfg.rois_per_image
    loader, sampler, batches, workers = _loader(cfg, train_s, labels, d, device)
    per_epoch = max(1, len(loader))
    total = cfg.iterations if cfg.iterations else cfg.epochs * per_epoch
    params = [p for p in model.parameters() if p.requires_grad]
    lr = cfg.learning_rate(random_init) * (d.world if cfg.lr is None else 1)  # linear scaling
    opt = torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg, total))
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    clip = cfg.clip_norm(infer_norm(model.state_dict()))
    st, rng = RunState(), None
    if resume_ck is not None:
        st, rng = restore(resume_ck, opt, sched, scaler, C.last_path(cfg.out), d.rank, d.world,
                          say)
        started_from = resume_ck.get("started_from", started_from)
    if d.on:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)  # an image without instances skips the mask head
    model_id = cfg.model_id or (resume_ck or {}).get("model_id") or \
        f"{Path(cfg.out).stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    counts = class_counts(train_s, ds)
    say({"event": "start", "train_images": len(train_s), "val_images": len(val_s),
         "instances": counts, "iterations": total, "start_iteration": st.iteration,
         "epochs": math.ceil(total / per_epoch), "batch_size": cfg.batch_size, "lr": lr,
         "device": str(device), "world_size": d.world, "loader_workers": workers,
         "arch": arch, "weights": started_from, "min_sizes": list(sizes),
         "amp": str(amp_dtype).split(".")[-1] if use_amp else "off"})
    saver = Checkpointer(
        model, opt, sched, scaler, Path(cfg.out), arch, labels.to_json(), cfg.min_size,
        cfg.max_size, model_id, has_val=bool(val_s), say=say, d=d,
        every_s=cfg.checkpoint_every_s,
        meta={"started_from": started_from, "train_config": _plain(asdict(cfg)),
              "data": {"coco": str(cfg.coco), "train_images": len(train_s),
                       "val_images": len(val_s), "instances": counts,
                       # what an evaluation must not count as unseen (Evaluate on done images)
                       "train_files": sorted(seen | {s.rec.file_name for s in train_s})}})
    loop = Loop(cfg, d, device, say, model, params, opt, sched, scaler,
                amp_dtype if use_amp else None, clip, loader, sampler, batches, saver, st, total,
                per_epoch, (lambda: validate(model, arch, labels, val_s, device, trainset_read))
                if val_s else None, cancel)
    if rng is not None:  # last: nothing between here and the first step draws from it
        _resume_random_state(rng, device, cfg)
    stop_reason = None
    while st.iteration < total and stop_reason is None:
        stop_reason = loop.epoch()
    summary = {"event": "done", "status": stop_reason or "finished", "checkpoint": str(cfg.out),
               "last": str(C.last_path(cfg.out)), "iterations": st.iteration,
               "best_segm_ap": st.best_ap, "model_id": model_id,
               "seconds": time.perf_counter() - loop.started}
    say(summary)
    if d.on:
        dist.destroy_process_group()
    if keep_model:
        summary["model"] = model.module if hasattr(model, "module") else model
    return summary


def _data(cfg: TrainConfig, say: Emit) -> tuple[Dataset, LabelTable, list[Sample], list[Sample]]:
    """The dataset, its label table and the train/val split; warnings go out as events
    (an unreadable image is an error the run survives: the GUI names the files)."""
    ds = open_path(cfg.coco, cfg.images, crowd_as_instances=cfg.crowd_as_instances,
                   follow_symlinks=cfg.follow_symlinks)
    samples, warnings = select_samples(ds, cfg.all_images, cfg.include_corrected)
    for w in warnings:
        say({"event": "warning", "message": w})
    bad = [w for w in warnings if w.startswith("skipped, unreadable")]
    if bad:
        say({"event": "error", "fatal": False, "files": bad,
             "message": f"{len(bad)} unreadable image(s) skipped: {bad[0]}"})
    labels = LabelTable.from_dataset(ds)
    train_s, val_s = split_train_val(samples, cfg.val_fraction, cfg.seed)
    return ds, labels, train_s, val_s


def _train_sizes(cfg: TrainConfig) -> tuple[int, ...]:
    """The min_size values a batch is drawn at (scale jitter), or just min_size."""
    jitter = cfg.scale_jitter
    if not jitter:
        return (cfg.min_size,)
    return tuple(sorted({int(round(cfg.min_size * (1 + f)))
                         for f in np.linspace(-jitter, jitter, 9)}))


def _loader(cfg: TrainConfig, train_s: list[Sample], labels: LabelTable, d, device):
    """The loader over a resumable, epoch-seeded sampler: (loader, sampler, batches,
    workers)."""
    trainset = TrainSet(train_s, labels, cfg.hflip)
    sampler = EpochSampler(len(trainset), cfg.seed, cfg.hflip, d.rank, d.world)
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
    return loader, sampler, batches, workers


def _resume_random_state(rng: dict, device, cfg: TrainConfig) -> None:
    try:
        set_rng_state(rng, device)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise TrainingError(f"--resume: {C.last_path(cfg.out)} holds a random state this "
                            f"run cannot take ({e}); start a new run instead") from None


def trainset_read(path):
    from model.data.images import read_image
    return read_image(path)


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj
