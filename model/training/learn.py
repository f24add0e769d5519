"""Learning while a person works (`main.py train --continuous`; the app's Model -> Learn
while I work): one training run that goes on until it is stopped.

- Its data is a snapshot of the reviewed images that the app rewrites as images are done;
  the run re-reads it between iterations when it changes, and trains on the new images
  from the next batch on.
- A fixed share of the images (`val_fraction`) is held out, decided once per image on
  arrival and kept (HeldOut): never trained on, and never one the start weights learnt
  from. Every `eval_every` iterations the model is measured on them, and so is the version
  in use (the `in_use` file the app writes names it), on the same images, by the one
  evaluation path (evaluation.py). A model that beats it (`beats`) is written beside OUT
  as a version of its own, and the `heldout` event says so; the app then makes it the
  version in use, and says so by rewriting the `in_use` file.
- It continues the schedule of the model it starts from: a run resumed (--resume) goes on
  with its optimizer, schedule and data; a new run from a trained checkpoint goes on at the
  full rate (no warm-up again), with the checkpoint's momentum when it holds one.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from model.data.atomic import atomic_write_json
from model.errors import (Cancelled, CocoFormatError, FileError, TrainingDataError,
                          TrainingError, UsageError, WeightsError)
from model.formats.sources import open_path
from model.net import checkpoint as C
from model.net.predictor import Predictor
from model.net.weights import safe_torch_load
from model.training.config import TrainConfig
from model.training.data import LabelTable, Sample, class_counts, select_samples
from model.training.evaluation import TruthImage, evaluate_model, truth_record
from model.training.hooks import Emit, Hook
from model.training.prepare import Data, data_meta, make_feed, say_warnings

POLL_S = 1.0  # while no image is there to train on yet
SCORE_FLOOR = 0.05  # detections both models are measured with (build_model's box threshold)
BUILTIN = ("none", "coco", "coco-v2")


def beats(candidate: float | None, in_use: float | None) -> bool:
    """The swap rule: a model becomes the version in use when its held-out segm AP is
    above the version in use's on the same images. A version in use that could not be
    measured (or random weights) counts as 0; a candidate without a figure (no truth in
    the held-out images) never wins."""
    if candidate is None or not math.isfinite(candidate):
        return False
    floor = in_use if in_use is not None and math.isfinite(in_use) else 0.0
    return candidate > max(floor, 0.0)


def learn_path(out: Path) -> Path:
    """The held-out split of a continuous run writing `out` (kept for --resume)."""
    out = Path(out)
    return out.with_name(out.stem + ".learn.json")


class HeldOut:
    """Which images are held out. Each image is placed once, when it first arrives, and
    stays there: the first of every 1/share images (so the first image is held out, and
    the share holds as the set grows). Images the start weights were trained on are never
    held out (they would flatter both models)."""

    def __init__(self, share: float, lineage: frozenset = frozenset(),
                 held: tuple = (), train: tuple = ()):
        self.share, self.lineage = share, frozenset(lineage)
        self.held, self.train = set(held), set(train)

    def assign(self, names: list[str]) -> list[str]:
        """Place the new names; returns those placed now."""
        new = []
        for name in names:
            if name in self.held or name in self.train:
                continue
            new.append(name)
            fresh = len(self.held) + len(self.train - self.lineage) + 1
            if name not in self.lineage and len(self.held) < math.ceil(self.share * fresh):
                self.held.add(name)
            else:
                self.train.add(name)
        return new

    def to_json(self) -> dict:
        return {"share": self.share, "held_out": sorted(self.held), "train": sorted(self.train),
                "lineage": sorted(self.lineage)}

    @classmethod
    def load(cls, path: Path, share: float) -> "HeldOut":
        """The split a run kept; a missing or unreadable file starts a new one."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            lists = [raw.get(k, []) for k in ("lineage", "held_out", "train")]
            if not all(isinstance(v, list) and all(isinstance(n, str) for n in v) for v in lists):
                raise ValueError
        except (OSError, ValueError, AttributeError):
            return cls(share)
        return cls(share, frozenset(lists[0]), tuple(lists[1]), tuple(lists[2]))


@dataclass(frozen=True)
class InUse:
    """The version in use: weights spec (a checkpoint path, coco, none) and model id."""
    weights: str
    model_id: str | None = None

    @property
    def key(self) -> str:
        return self.model_id or self.weights


def read_in_use(path: Path) -> InUse | None:
    """{"weights": SPEC, "model_id": ID} from the app; None when missing or not that."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("weights"), str) or not raw["weights"]:
        return None
    mid = raw.get("model_id")
    return InUse(raw["weights"], mid if isinstance(mid, str) else None)


def start_lineage(cfg: TrainConfig) -> frozenset:
    """The image files the start weights were trained on (an unreadable file: none; the
    run's own start reports it)."""
    if str(cfg.weights).lower() in BUILTIN:
        return frozenset()
    try:
        return C.trained_files(safe_torch_load(Path(cfg.weights)))
    except WeightsError:
        return frozenset()


class Learner(Hook):
    """The continuous run's data and judge, attached to its Loop as a hook."""

    def __init__(self, cfg: TrainConfig, cancel: threading.Event | None = None):
        self.cfg, self.cancel = cfg, cancel
        self.say: Emit = lambda e: None
        self.split: HeldOut | None = None
        self.stamp = None  # the snapshot's (mtime, size) last read
        self.said: set[str] = set()  # warnings said once
        self.in_use_stamp = None
        self.in_use = InUse(str(cfg.weights))  # without an in_use file: the start weights
        self.known: dict[tuple, float | None] = {}  # (in-use key, held-out names) -> AP
        self.run = None
        self.loop = None

    # ------------------------------------------------------------------- data
    def first_data(self, cfg: TrainConfig, say: Emit) -> Data:
        """The first images to train on: waits (polling the snapshot) until one is there
        that is not held out. Raises Cancelled when stopped before."""
        self.say = say
        path = learn_path(cfg.out)
        self.split = HeldOut.load(path, cfg.val_fraction) if cfg.resume and path.is_file() \
            else HeldOut(cfg.val_fraction, start_lineage(cfg))
        waiting = False
        while True:
            got = self.read()
            if got is not None and got.train:
                return got
            if not waiting:
                say({"event": "waiting", "message": "waiting for a reviewed image to train on "
                     f"({_share(cfg.val_fraction)} of them are held out to measure the model)"})
                waiting = True
            if self.stopping():
                raise Cancelled("stopped before any image was there to train on")
            time.sleep(POLL_S)

    def stopping(self) -> bool:
        return (self.cancel is not None and self.cancel.is_set()) or \
            (self.cfg.stop_file is not None and Path(self.cfg.stop_file).exists())

    def changed(self) -> bool:
        """Has the snapshot been rewritten since it was read? (a stat, every iteration)"""
        try:
            st = Path(self.cfg.coco).stat()
        except OSError:
            return False
        return (st.st_mtime_ns, st.st_size) != self.stamp

    def read(self) -> Data | None:
        """The snapshot now, split; None when it cannot be read (said once)."""
        cfg = self.cfg
        try:
            st = Path(cfg.coco).stat()
            self.stamp = (st.st_mtime_ns, st.st_size)
            ds = open_path(cfg.coco, cfg.images, crowd_as_instances=cfg.crowd_as_instances,
                           follow_symlinks=cfg.follow_symlinks)
        except (OSError, FileError, CocoFormatError, UsageError) as e:
            self._once(f"{cfg.coco} cannot be read now ({e}); training goes on with the "
                       "images it has")
            return None
        try:
            samples, warnings = select_samples(ds, cfg.all_images, cfg.include_corrected)
        except TrainingDataError as e:
            if not ds.images or not ds.categories:
                samples, warnings = [], []
            else:
                self._once(str(e))
                return None
        say_warnings([w for w in warnings if w not in self.said], self.say)
        self.said.update(warnings)
        new = self.split.assign([s.rec.file_name for s in samples])
        if new:
            atomic_write_json(learn_path(cfg.out), self.split.to_json())
        train = [s for s in samples if s.rec.file_name in self.split.train]
        held = [s for s in samples if s.rec.file_name in self.split.held]
        return Data(ds, LabelTable.from_dataset(ds), train, held)

    def _once(self, message: str) -> None:
        if message not in self.said:
            self.said.add(message)
            self.say({"event": "warning", "message": message})

    # -------------------------------------------------------------- the hooks
    def attach(self, run, loop) -> None:
        self.run, self.loop = run, loop

    def after_step(self, loop) -> None:
        if self.changed():
            self.reload(loop)
        if loop.st.iteration % self.cfg.eval_every == 0:
            self.judge(loop)

    def reload(self, loop) -> None:
        """New images (or changed ones): train on them from the next batch on."""
        run = self.run
        old = {s.rec.file_name for s in run.data.train} | {s.rec.file_name for s in run.data.val}
        got = self.read()
        if got is None:
            return
        if got.labels.to_json() != run.data.labels.to_json():
            raise TrainingError(f"{self.cfg.coco}: the dataset's categories changed since this "
                                "run started; start learning again to train the new ones")
        if not got.train:
            return
        run.data = got
        loop.use_feed(make_feed(self.cfg, got.train, got.labels, run.d, run.net.device))
        counts = class_counts(got.train, got.ds)
        run.saver.meta["data"] = data_meta(self.cfg, got.train, got.val, counts, run.net.lineage)
        added = sorted(({s.rec.file_name for s in got.train} | {s.rec.file_name for s in got.val})
                       - old)
        self.say({"event": "data", "iteration": loop.st.iteration,
                  "train_images": len(got.train), "held_out_images": len(got.val),
                  "added": added[:50]})

    def current_in_use(self) -> InUse:
        path = self.cfg.in_use
        if path is None:
            return self.in_use
        try:
            st = Path(path).stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            return self.in_use
        if stamp != self.in_use_stamp:
            self.in_use_stamp = stamp
            got = read_in_use(Path(path))
            if got is None:
                self._once(f"{path}: not a version in use ({{\"weights\": ...}}); the last one "
                           "read is kept")
            else:
                self.in_use = got
        return self.in_use

    def judge(self, loop) -> None:
        """Measure the model and the version in use on the held-out images; write the
        model as a version of its own when it beats it."""
        run, cfg, st = self.run, self.cfg, loop.st
        held = run.data.val
        in_use = self.current_in_use()
        event = {"event": "heldout", "iteration": st.iteration, "images": len(held),
                 "in_use": in_use.weights, "in_use_model": in_use.model_id,
                 "ap": None, "bbox_ap": None, "in_use_ap": None, "beats": False,
                 "checkpoint": None, "model_id": None}
        if not held:
            self.say(dict(event, message="no held-out image yet: 1 in "
                          f"{round(1 / cfg.val_fraction) if cfg.val_fraction else '-'} "
                          "reviewed images is held out"))
            return
        names = tuple(sorted(s.rec.file_name for s in held))
        mid = f"{run.model_id}-it{st.iteration}"
        self.say({"event": "validating", "iteration": st.iteration, "images": len(held)})
        try:
            report = self.measure_candidate(loop.module, held, mid)
            use_ap = self.measure_in_use(in_use, held, names, run.data.labels)
        except Cancelled:  # stopping: the loop sees it at the next iteration
            return
        ap, box = report["segm"]["AP"], report["bbox"]["AP"]
        win = beats(ap, use_ap)
        path = None
        if win:
            path = C.candidate_path(cfg.out, st.iteration)
            run.saver.candidate(st, path, mid)
            self.known[(mid, names)] = ap
            if cfg.in_use is None:  # no app to say otherwise: the winner is in use now
                self.in_use = InUse(str(path), mid)
        self.say(dict(event, ap=ap, bbox_ap=box, in_use_ap=use_ap, beats=win,
                      checkpoint=str(path) if path else None, model_id=mid if win else None))
        loop.hooks.evaluated(dict(report, iteration=st.iteration, split="held-out"), loop)

    def measure_candidate(self, module, held: list[Sample], model_id: str) -> dict:
        """The training model at the size it will predict at (min_size, no jitter)."""
        labels = self.run.data.labels
        was, sizes = module.training, module.transform.min_size
        module.eval()
        module.transform.min_size = (self.cfg.min_size,)
        try:
            pred = Predictor.from_model(module, [None] + list(labels.categories),
                                        self.run.net.device, model_id, self.run.net.arch)
            report, _ = evaluate_model(pred, list(labels.categories), _truth(held), _read,
                                       adopt=False, cancel=self.cancel)
            return report
        finally:
            module.transform.min_size = sizes
            module.train(was)

    def measure_in_use(self, in_use: InUse, held: list[Sample], names: tuple,
                       labels: LabelTable) -> float | None:
        """The version in use's held-out segm AP (kept per version and held-out set): its
        classes matched by name, as the app shows them. Random weights count as 0."""
        key = (in_use.key, names)
        if key in self.known:
            return self.known[key]
        value: float | None
        if in_use.weights.strip().lower() == "none":
            value = 0.0
        else:
            try:  # building a model draws from torch's generator: the run's is left as it was
                with torch.random.fork_rng(devices=[]):
                    pred = Predictor(weights=in_use.weights, device=str(self.run.net.device),
                                     score_threshold=SCORE_FLOOR, allow_download=False)
                report, _ = evaluate_model(pred, list(labels.categories), _truth(held), _read,
                                           adopt=True, cancel=self.cancel)
                value = report["segm"]["AP"]
                del pred
            except (WeightsError, UsageError, OSError) as e:
                self._once(f"the version in use ({in_use.weights}) cannot be measured: {e}; "
                           "a model that finds anything beats it")
                value = None
        self.known[key] = value
        return value


def _truth(held: list[Sample]) -> list[TruthImage]:
    return [TruthImage(truth_record(s.rec), s.path) for s in held]


def _read(path):
    from model.data.images import read_image
    return read_image(path)


def _share(fraction: float) -> str:
    return f"1 in {round(1 / fraction)}" if fraction > 0 else "none"
