"""Fine-tune Mask R-CNN on reviewed images. No Qt; runs in its own process (the GUI
starts it with QProcess) and under torchrun (DistributedDataParallel).

The model trained here is a separate copy: nothing that serves predictions is ever
switched to train(). Progress leaves through `emit(event_dict)`; cancel is a
threading.Event (or a stop file) checked every iteration, and stopping saves a
checkpoint. A non-finite loss raises TrainingError (never sys.exit).
"""
from __future__ import annotations

import datetime as dt
import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import BatchSampler, DataLoader

from model.net import checkpoint as C
from model.data.annotations import Dataset, ImageRecord
from model.net.build import build_model, fit_state, infer_norm, load_state
from model.net.devices import configure_cpu_threads
from model.training.distributed import any_rank, gather_all, init_distributed
from model.errors import TrainingError, UsageError
from model.metrics.per_class import evaluate_report
from model.data.masks import encode_rle
from model.net.predictor import Predictor
from model.net.sizes import size_problem
from model.formats.sources import open_path
from model.training.checkpoints import Checkpointer, RunState, restore
from model.training.data import (EpochSampler, GroupedBatchSampler, LabelTable, ResumableBatches,
                                 Sample, TrainSet, class_counts, collate, select_samples,
                                 split_train_val)
from model.training.rng import rng_state, set_rng_state, torch_rng_state
from model.net.weights import resolve_weights

HEAD_KEYS = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.mask_fcn_logits.")
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
    threads: int | None = None  # torch CPU threads (None: all cores; the GUI leaves it one)

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

def is_oom(e: BaseException) -> bool:
    return isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" \
        or "out of memory" in str(e).lower()


def warm_start_heads(model, loaded, labels: LabelTable) -> list[str]:
    """New heads for the dataset's classes; rows of classes the start weights also
    know by name (COCO 'person', say) are copied over. Returns those names."""
    names = {c.name.lower(): k for k, c in enumerate(loaded.label_categories) if c is not None}
    sd = loaded.state_dict
    cls_w, cls_b = sd["roi_heads.box_predictor.cls_score.weight"], sd["roi_heads.box_predictor.cls_score.bias"]
    box_w, box_b = sd["roi_heads.box_predictor.bbox_pred.weight"], sd["roi_heads.box_predictor.bbox_pred.bias"]
    mask_w = sd["roi_heads.mask_predictor.mask_fcn_logits.weight"]
    mask_b = sd["roi_heads.mask_predictor.mask_fcn_logits.bias"]
    bp, mp = model.roi_heads.box_predictor, model.roi_heads.mask_predictor
    copied = []
    with torch.no_grad():
        pairs = [(0, 0)] + [(k, names[c.name.lower()]) for k, c in enumerate(labels.categories, 1)
                            if c.name.lower() in names]
        for new, old in pairs:
            if cls_w.shape[1] != bp.cls_score.weight.shape[1]:
                break
            bp.cls_score.weight[new] = cls_w[old]
            bp.cls_score.bias[new] = cls_b[old]
            bp.bbox_pred.weight[4 * new:4 * new + 4] = box_w[4 * old:4 * old + 4]
            bp.bbox_pred.bias[4 * new:4 * new + 4] = box_b[4 * old:4 * old + 4]
            mp.mask_fcn_logits.weight[new] = mask_w[old]
            mp.mask_fcn_logits.bias[new] = mask_b[old]
            if new:
                copied.append(labels.categories[new - 1].name)
    return copied


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
        gt = Dataset(labels.categories)
        results = []
        for s in val:
            rec = ImageRecord(s.rec.id, s.rec.file_name, s.rec.width, s.rec.height,
                              [i for i in s.rec.instances if i.is_positive or i.iscrowd])
            gt.images.append(rec)
            img = read(s.path)
            h, w = img.shape[:2]
            for inst in pred.predict(img):
                results.append({"image_id": rec.id, "category_id": inst.category_id,
                                "segmentation": encode_rle(inst.mask, inst.offset, h, w),
                                "bbox": inst.bbox, "score": inst.score})
        return evaluate_report(gt, results)
    finally:
        m.train(was_training)


# ------------------------------------------------------------------------------ train

def _build(cfg: TrainConfig, labels: LabelTable, emit: Emit, main: bool):
    """Model, its arch, where it started and the resume checkpoint (if any)."""
    last = C.last_path(cfg.out)
    if cfg.resume:
        if not last.is_file():
            raise TrainingError(f"--resume: no checkpoint to resume at {last}")
        ck = C.load(last)
        if ck.get("categories") != labels.to_json():
            raise TrainingError(f"--resume: {last} was trained on other categories than "
                                f"{cfg.coco}; start a new run instead")
        model = build_model(ck["arch"], ck["num_classes"], cfg.min_size, cfg.max_size,
                            trainable_layers=cfg.trainable_layers,
                            norm=ck.get("norm") or infer_norm(ck["model"]))
        load_state(model, ck["model"], str(last), ck["arch"])
        return model, ck["arch"], ck.get("started_from", "resume"), ck
    loaded = resolve_weights(cfg.weights)
    norm = loaded.norm
    if cfg.norm and cfg.norm != norm:
        if loaded.state_dict is not None:
            raise TrainingError(f"--norm {cfg.norm} builds a model for random weights; "
                                f"{loaded.model_id} was trained with {norm} normalisation")
        norm = cfg.norm
    model = build_model(loaded.arch, labels.num_classes, cfg.min_size, cfg.max_size,
                        trainable_layers=cfg.trainable_layers, norm=norm)
    if loaded.state_dict is not None:
        if labels.same_as(loaded.label_categories):
            load_state(model, loaded.state_dict, loaded.model_id, loaded.arch)
            if main:
                emit({"event": "info", "message": "continuing with the start weights' heads"})
        else:
            body = {k: v for k, v in fit_state(model, loaded.state_dict).items()
                    if not k.startswith(HEAD_KEYS)}
            missing, unexpected = model.load_state_dict(body, strict=False)
            bad = [k for k in missing if not k.startswith(HEAD_KEYS)]
            if bad or unexpected:
                raise TrainingError(f"{loaded.model_id}: weights do not fit {loaded.arch} "
                                    f"({len(bad)} missing, {len(unexpected)} unexpected tensors)")
            copied = warm_start_heads(model, loaded, labels)
            if main:
                emit({"event": "info", "message": "replaced the box and mask heads for "
                      f"{labels.num_classes - 1} classes" +
                      (f"; started {', '.join(copied)} from the same classes of the start weights"
                       if copied else "")})
    return model, loaded.arch, str(cfg.weights), None


def run_training(cfg: TrainConfig, emit: Emit = lambda e: None,
                 cancel: threading.Event | None = None, keep_model: bool = False) -> dict:
    """Train; returns a summary (with the trained module under "model" if keep_model).
    Raises TrainingDataError / TrainingError / WeightsError, and UsageError for sizes a
    checkpoint could not hold (what training writes must load back)."""
    problem = size_problem(cfg.min_size, cfg.max_size)
    if problem:
        raise UsageError(f"cannot train at these sizes: {problem}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    else:
        configure_cpu_threads(reserve=0)
    d, device = init_distributed(cfg.device)
    say = emit if d.main else (lambda e: None)
    if d.main:
        stale = C.remove_stale_run_temps(cfg.out)
        if stale:
            say({"event": "info", "message": f"removed {len(stale)} temp file(s) that a killed "
                 f"checkpoint write left: {', '.join(p.name for p in stale)}"})
    torch.manual_seed(cfg.seed + d.rank)
    np.random.seed(cfg.seed + d.rank)
    ds = open_path(cfg.coco, cfg.images, crowd_as_instances=cfg.crowd_as_instances)
    samples, warnings = select_samples(ds, cfg.all_images, cfg.include_corrected)
    for w in warnings:
        say({"event": "warning", "message": w})
    bad = [w for w in warnings if w.startswith("skipped, unreadable")]
    if bad:  # an error the run survives: the GUI names the files, training goes on
        say({"event": "error", "fatal": False, "files": bad,
             "message": f"{len(bad)} unreadable image(s) skipped: {bad[0]}"})
    labels = LabelTable.from_dataset(ds)
    train_s, val_s = split_train_val(samples, cfg.val_fraction, cfg.seed)
    model, arch, started_from, resume_ck = _build(cfg, labels, say, d.main)
    random_init = str(cfg.weights).lower() == "none" and resume_ck is None
    clip = cfg.clip_norm(infer_norm(model.state_dict()))
    jitter = cfg.scale_jitter
    sizes = tuple(sorted({int(round(cfg.min_size * (1 + f)))
                          for f in np.linspace(-jitter, jitter, 9)})) if jitter else (cfg.min_size,)
    model.to(device).train()
    model.transform.min_size = sizes  # torchvision picks one per batch while training
    model.roi_heads.fg_bg_sampler.batch_size_per_image = cfg.rois_per_image
    params = [p for p in model.parameters() if p.requires_grad]
    lr = cfg.learning_rate(random_init) * (d.world if cfg.lr is None else 1)  # linear scaling
    opt = torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
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
    per_epoch = max(1, len(loader))
    total = cfg.iterations if cfg.iterations else cfg.epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg, total))
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    st, rng = RunState(), None
    if resume_ck is not None:
        st, rng = restore(resume_ck, opt, sched, scaler, C.last_path(cfg.out), d.rank, d.world, say)
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
         "device": str(device), "world_size": d.world, "loader_workers": workers, "arch": arch, "weights": started_from,
         "min_sizes": list(sizes), "amp": str(amp_dtype).split(".")[-1] if use_amp else "off"})

    saver = Checkpointer(
        model, opt, sched, scaler, Path(cfg.out), arch, labels.to_json(), cfg.min_size,
        cfg.max_size, model_id, has_val=bool(val_s), say=say, main=d.main,
        every_s=cfg.checkpoint_every_s,
        meta={"started_from": started_from, "train_config": _plain(asdict(cfg)),
              "data": {"coco": str(cfg.coco), "train_images": len(train_s),
                       "val_images": len(val_s), "instances": counts}})

    if rng is not None:  # last: nothing between here and the first step draws from it
        try:
            set_rng_state(rng, device)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise TrainingError(f"--resume: {C.last_path(cfg.out)} holds a random state this "
                                f"run cannot take ({e}); start a new run instead") from None
    stop_reason = None
    started = time.perf_counter()
    it_times: list[float] = []
    while st.iteration < total and stop_reason is None:
        sampler.set_epoch(st.epoch)
        batches.skip = st.position  # 0, unless a resume goes on inside this epoch
        waited = time.perf_counter()
        for images, targets, errors in loader:
            for e in errors:
                say({"event": "warning", "message": f"skipped, unreadable: {e}"})
            if not images:
                st.position += 1
                continue
            t0 = time.perf_counter()
            stages = {"data": t0 - waited}  # host seconds per stage (bench/profile_train.py)
            before = torch_rng_state(device)  # a resume from a non-finite loss starts here
            images = [im.to(device, non_blocking=True) for im in images]
            ids = [int(t["image_id"]) for t in targets]
            targets = [{k: v.to(device, non_blocking=True) for k, v in t.items() if k != "image_id"}
                       for t in targets]
            try:
                t1 = time.perf_counter()
                stages["to_device"] = t1 - t0
                with torch.autocast("cuda", dtype=amp_dtype, enabled=use_amp):
                    losses = model(images, targets)
                loss = sum(losses.values())
                t2 = time.perf_counter()
                stages["forward"] = t2 - t1
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                t3 = time.perf_counter()
                stages["backward"] = t3 - t2
                norm = None
                if clip:
                    scaler.unscale_(opt)
                    norm = torch.nn.utils.clip_grad_norm_(params, clip)
                stages["clip"] = time.perf_counter() - t3
                # one device sync per iteration: the loss terms and the gradient norm come
                # back together, checked before the step (a NaN never reaches the weights)
                values, norm_value = _fetch(losses, norm)
                bad = "loss" if any_rank(d, not math.isfinite(sum(values.values()))) else \
                    "gradient" if norm_value is not None and not scaler.is_enabled() and \
                    any_rank(d, not math.isfinite(norm_value)) else None
                if bad:  # the weights are still the last good ones: saved as they were
                    _share(d, st, rng_state(device, before))
                    saver.now(st, "non-finite")
                    raise TrainingError(_nan_message(st.iteration + 1, values, cfg, bad))
                t4 = time.perf_counter()
                scaler.step(opt)
                scaler.update()
                sched.step()
                stages["step"] = time.perf_counter() - t4
            except TrainingError:
                raise
            except RuntimeError as e:
                if is_oom(e):
                    raise TrainingError(
                        f"a batch of {cfg.batch_size} image(s) at min_size {cfg.min_size} does "
                        f"not fit in {device} memory; try --batch-size "
                        f"{max(1, cfg.batch_size // 2)} or --min-size {int(cfg.min_size * 0.75)}"
                    ) from None
                raise
            st.iteration += 1
            st.position += 1
            st.seen += ids
            for k, v in values.items():
                st.epoch_losses.setdefault(k, []).append(v)
            if st.iteration in cfg.snapshots:
                saver.snapshot(st)
            it_times.append(time.perf_counter() - t0)
            recent = it_times[-20:]
            per_it = (time.perf_counter() - started) / max(1, len(it_times))
            say({"event": "iter", "iteration": st.iteration, "total": total,
                 "epoch": st.epoch + 1, "losses": values, "loss": sum(values.values()),
                 "lr": opt.param_groups[0]["lr"],
                 "images_per_s": cfg.batch_size * d.world / (sum(recent) / len(recent)),
                 "eta_s": per_it * (total - st.iteration), "stages": stages})
            stopping = (cancel is not None and cancel.is_set()) or \
                (cfg.stop_file is not None and Path(cfg.stop_file).exists())
            if any_rank(d, stopping):
                stop_reason = "cancelled"
                break
            if st.iteration >= total:
                break
            waited = time.perf_counter()
        if stop_reason is not None and st.position < per_epoch:
            _share(d, st, rng_state(device))  # a resume goes on from this batch
            saver.now(st, stop_reason)
            break
        _end_epoch(st, opt, d, say, (model, arch, labels, val_s, device) if val_s else None)
        _share(d, st, rng_state(device))
        saver.after_epoch(st, final=stop_reason is not None or st.iteration >= total,
                          status=stop_reason)
        if d.on:
            dist.barrier()
    summary = {"event": "done", "status": stop_reason or "finished", "checkpoint": str(cfg.out),
               "last": str(C.last_path(cfg.out)), "iterations": st.iteration,
               "best_segm_ap": st.best_ap, "model_id": model_id,
               "seconds": time.perf_counter() - started}
    say(summary)
    if d.on:
        dist.destroy_process_group()
    if keep_model:
        summary["model"] = model.module if hasattr(model, "module") else model
    return summary


def _share(d, st: RunState, rng: dict) -> None:
    """Every rank's random state and images of this epoch, on rank 0, which saves them."""
    got = gather_all(d, (rng, list(st.seen)))
    st.rng, st.seen_by_rank = [g[0] for g in got], [g[1] for g in got]


def _end_epoch(st: RunState, opt, d, say: Emit, val: tuple | None) -> None:
    """Close the epoch: its history entry (losses, the images each rank saw, validation)."""
    st.epoch += 1
    entry = {"epoch": st.epoch, "iteration": st.iteration,
             "losses": {k: float(np.mean(v)) for k, v in st.epoch_losses.items()},
             "lr": opt.param_groups[0]["lr"], "time": dt.datetime.now().isoformat(timespec="seconds"),
             "seen": gather_all(d, st.seen)}  # image ids each rank trained on, this epoch
    st.position, st.seen, st.epoch_losses = 0, [], {}
    if val is not None and d.main:
        say({"event": "validating", "epoch": st.epoch})
        report = validate(*val, trainset_read)
        entry["val"] = {t: report[t] for t in ("bbox", "segm")}
        entry["val_per_class"] = report["per_class"]  # small: the curves stay in the report
        st.val_report = dict(report, epoch=st.epoch, iteration=st.iteration, split="val")
        say({"event": "val", "epoch": st.epoch, "metrics": entry["val"]})
    st.history.append(entry)


def _fetch(losses: dict, norm) -> tuple[dict[str, float], float | None]:
    """The loss terms (and the gradient norm) as Python floats, in one transfer."""
    parts = [v.detach().float() for v in losses.values()]
    if norm is not None:
        parts.append(norm.detach().float())
    got = torch.stack(parts).tolist()
    return dict(zip(losses, got)), (got[-1] if norm is not None else None)


def trainset_read(path):
    from model.data.images import read_image
    return read_image(path)


def _nan_message(iteration: int, values: dict, cfg: TrainConfig, what: str = "loss") -> str:
    last = C.last_path(cfg.out)
    kept = f"the last good checkpoint is kept at {last}" if last.exists() else \
        "no checkpoint had been written yet"
    shown = ", ".join(f"{k}={v:.3g}" for k, v in values.items())
    return (f"non-finite {what} at iteration {iteration} ({shown}); training stopped and {kept}. "
            "Try a lower --lr (e.g. half) or a longer warm-up.")


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj
