"""What a training run is asked to do: one plain dataclass, read by the parts that build
a run (prepare.py), run it (loop.py) and record it (checkpoints.py). Kept apart from them
so none of them imports another to learn its settings."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ANCHOR_MODES = ("keep", "auto")  # or explicit sizes, one per FPN level


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
    val_fraction: float = 0.2  # continuous: the share of done images held out on arrival
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
    checkpoint_every_s: float = 600.0  # resume state; also at the end (checkpoints.py)
    # RPN anchor sizes, one per FPN level: "keep" the start weights' (torchvision's 32..512
    # unless the checkpoint stores others), "auto" fit them to the boxes (anchors.py), or sizes
    anchors: str | tuple[int, ...] = "keep"
    # continuous (learning while a person works, learn.py): train until stopped, take each
    # new image of the `coco` snapshot as it changes, judge the model on held-out images
    continuous: bool = False
    in_use: Path | None = None  # JSON naming the version in use ({"weights": ...}); learn.py
    eval_every: int = 100  # continuous: held-out evaluation every this many iterations

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


def lr_factor(cfg: TrainConfig, total: int | None, warmup: int | None = None
              ) -> Callable[[int], float]:
    """The schedule: a linear warm-up, then cosine, step or constant. A continuous run
    has no total: constant after its warm-up (`warmup` overrides cfg.warmup_iters: 0 goes
    on at the full rate, as a model already trained on the data should)."""
    warmup = cfg.warmup_iters if warmup is None else warmup
    if total is None:
        warm = max(1, warmup)
        schedule = "constant"
    else:
        warm = max(1, min(warmup, total // 2 or 1))
        schedule = cfg.schedule
    start = 1.0 if total is None and warmup == 0 else 0.001

    def f(it: int) -> float:
        w = start + (1 - start) * min(1.0, it / warm)
        if schedule == "step":
            s = 0.1 if it >= int(0.75 * total) else 1.0
        elif schedule == "constant":
            s = 1.0
        else:
            s = 0.5 * (1 + math.cos(math.pi * min(it, total) / max(total, 1)))
        return w * max(s, 0.01)
    return f
