"""Cross-predictions: a model trained on the same labels has memorised their errors, so
each image is predicted by a model that never saw it (Cleanlab's recipe). The decided
images are split into K folds; for each fold a model trains on the other K-1 through
the training library (model/training) and predicts the held-out fold with the Predictor.
"""
from __future__ import annotations

import random
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

from model.audit.suspects import LOW_SCORE
from model.data.annotations import Dataset, ImageRecord, Instance
from model.data.coco import save_dataset
from model.data.images import read_image
from model.editing.review import training_set
from model.errors import Cancelled, TrainingDataError
from model.net.predictor import Predictor
from model.training.config import TrainConfig
from model.training.hooks import KeepModel
from model.training.train import run_training

Say = Callable[[str], None]


def audited_images(ds: Dataset) -> list[ImageRecord]:
    """The images whose labels a fold model learns from and the audit checks: the
    training-set rule (done, or every instance decided)."""
    ids = set(training_set(ds.images).image_ids)
    return [r for r in ds.images if r.id in ids]


def split_folds(records: list[ImageRecord], k: int, seed: int = 0) -> list[list[ImageRecord]]:
    """K folds of nearly equal size, shuffled by `seed` (reproducible)."""
    if k < 2:
        raise TrainingDataError("--folds needs at least 2 folds")
    if len(records) < k:
        raise TrainingDataError(f"{k} folds need at least {k} decided images; the dataset "
                                f"has {len(records)}")
    order = sorted(records, key=lambda r: r.id)
    random.Random(seed).shuffle(order)
    return [order[i::k] for i in range(k)]


def cross_predictions(ds: Dataset, k: int, base: TrainConfig, say: Say = lambda m: None,
                      cancel: threading.Event | None = None, seed: int = 0,
                      score_threshold: float = LOW_SCORE, workdir: Path | None = None,
                      emit: Callable[[dict], None] = lambda e: None
                      ) -> dict[int, list[Instance]]:
    """Image id -> the held-out model's instances, for every decided image.

    `base` gives the training settings (weights to start from, iterations, sizes, device);
    its coco/out/images/val_fraction are set here. Fold files and checkpoints go to a
    temporary folder (or `workdir`) that is removed afterwards. `emit` gets the training's
    events (model/training/train.py), for a progress display. The caller's random
    generators are not reseeded (its entry point seeds them once).
    """
    folds = split_folds(audited_images(ds), k, seed)
    out: dict[int, list[Instance]] = {}
    with tempfile.TemporaryDirectory(prefix="maskloop-folds-", dir=workdir) as tmp:
        for i, held in enumerate(folds):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            train_recs = [r for j, f in enumerate(folds) if j != i for r in f]
            sub = Dataset(ds.categories, train_recs, image_root=ds.image_root)
            sub.follow_symlinks = ds.follow_symlinks
            coco = Path(tmp) / f"fold{i + 1}.json"
            save_dataset(sub, coco)
            cfg = replace(base, coco=coco, images=ds.image_root, out=Path(tmp) / f"fold{i + 1}.pt",
                          val_fraction=0.0, all_images=False, resume=False, snapshots=(),
                          model_id=f"fold{i + 1}of{k}", seed=base.seed + i)
            say(f"fold {i + 1}/{k}: training on {len(train_recs)} image(s), "
                f"predicting {len(held)}")
            kept = KeepModel()
            run_training(cfg, emit, cancel=cancel, hooks=[kept])
            out.update(predict_records(kept.model, ds, held, cfg, score_threshold, cancel))
    return out


def predict_records(model, ds: Dataset, records: list[ImageRecord], cfg: TrainConfig,
                    score_threshold: float, cancel: threading.Event | None = None
                    ) -> dict[int, list[Instance]]:
    """A trained module's predictions on `records`, at the training's min_size (no jitter)."""
    model.eval()
    model.transform.min_size = (cfg.min_size,)
    device = next(model.parameters()).device
    pred = Predictor.from_model(model, [None] + list(ds.categories), device, cfg.model_id or "fold")
    pred.score_threshold = score_threshold
    return {rec.id: pred.predict(read_image(ds.image_path(rec)), cancel) for rec in records}
