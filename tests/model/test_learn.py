"""Learning while a person works (model/training/learn.py): the swap rule, the held-out
split, a continuous run that takes a newly done image between iterations and measures
itself against the version in use; and the hooks a run gives (model/training/hooks.py),
with the audit's folds leaving their caller's random generators alone."""
from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import model.training.learn as L
from model.data.annotations import Dataset
from model.data.coco import load_dataset, save_dataset
from model.net import checkpoint as C
from model.net.predictor import Predictor
from model.training.anchors import fit_anchor_sizes, input_boxes
from model.training.config import TrainConfig
from model.training.hooks import Hook, KeepModel
from model.training.learn import HeldOut, beats, learn_path
from model.training.train import run_training
from tests.helpers import shapes_dataset

SIDE = 64


def cfg_for(coco: Path, out: Path, **kw) -> TrainConfig:
    base = dict(coco=coco, out=out, weights="none", min_size=SIDE, max_size=SIDE, workers=0,
                val_fraction=0.0, rois_per_image=32, warmup_iters=2, batch_size=1,
                iterations=2)
    base.update(kw)
    return TrainConfig(**base)


def subset(src: Path, names: list[str], path: Path) -> Path:
    """A snapshot of these images of a dataset, as the app writes it."""
    ds = load_dataset(src)
    keep = [r for r in ds.images if r.file_name in names]
    save_dataset(Dataset(ds.categories, keep, ds.image_root), path)
    return path


# ------------------------------------------------------------------- the swap rule
@pytest.mark.parametrize("candidate, in_use, swap", [
    (0.31, 0.30, True), (0.30, 0.30, False), (0.29, 0.30, False),
    (0.01, None, True), (0.0, None, False), (0.0, 0.0, False), (None, 0.1, False),
    (float("nan"), 0.1, False), (0.2, -1.0, True)])
def test_a_model_is_swapped_in_only_when_it_beats_the_version_in_use(candidate, in_use, swap):
    assert beats(candidate, in_use) is swap


def test_held_out_images_are_placed_once_on_arrival_and_never_from_the_lineage(tmp_path):
    split = HeldOut(0.2, lineage=frozenset({"old.png"}))
    assert split.assign(["a", "old.png", "b", "c", "d", "e"]) == ["a", "old.png", "b", "c",
                                                                "d", "e"]
    assert split.held == {"a"} and split.train == {"old.png", "b", "c", "d", "e"}
    split.assign(["e", "a", "f", "g"])  # the 6th new image is held out; known ones stay
    assert split.held == {"a", "f"} and "g" in split.train
    path = tmp_path / "m.learn.json"
    path.write_text(json.dumps(split.to_json()))
    again = HeldOut.load(path, 0.2)
    assert (again.held, again.train, again.lineage) == (split.held, split.train, split.lineage)
    assert HeldOut.load(tmp_path / "missing.json", 0.2).held == set()


# --------------------------------------------------------------- the continuous run
def test_a_continuous_run_takes_a_new_done_image_and_measures_itself_against_the_version_in_use(
        tmp_path, monkeypatch):
    """It waits for an image to train on (the first is held out), takes a new one from the
    rewritten snapshot between iterations, never trains on the held-out one, writes a model
    that wins as a version of its own (with its anchors), and follows the in-use file."""
    full = shapes_dataset(tmp_path / "d", n=4, size=SIDE)  # s0..s3, boxes of 16-28 px
    snap = subset(full, ["s0.png"], tmp_path / "train.json")
    in_use = tmp_path / "in_use.json"
    in_use.write_text(json.dumps({"weights": "none"}))
    out = tmp_path / "run" / "m.pt"
    out.parent.mkdir()
    monkeypatch.setattr(L, "beats", lambda ap, use: True)  # a 2-iteration model wins
    cancel = threading.Event()
    events = []

    def emit(e):
        events.append(e)
        kind = e["event"]
        if kind == "waiting":  # only s0, which is held out: the person finishes two more
            subset(full, ["s0.png", "s1.png", "s2.png"], snap)
        elif kind == "iter" and e["iteration"] == 2:  # ...and one more, while it trains
            subset(full, ["s0.png", "s1.png", "s2.png", "s3.png"], snap)
        elif kind == "heldout" and e["iteration"] == 2:  # the app swaps it in
            in_use.write_text(json.dumps({"weights": e["checkpoint"], "model_id": e["model_id"]}))
        elif kind == "iter" and e["iteration"] == 5 or kind == "warning":
            cancel.set()  # (a warning would be a failure: stop rather than wait for ever)
    summary = run_training(cfg_for(snap, out, images=full.parent, continuous=True,
                                   in_use=in_use, eval_every=2, val_fraction=0.2,
                                   anchors="auto", model_id="learn-t"), emit, cancel)
    kinds = [e["event"] for e in events]
    assert "warning" not in kinds, events
    assert summary["status"] == "cancelled" and summary["iterations"] == 5
    assert kinds.index("waiting") < kinds.index("start")
    start = events[kinds.index("start")]
    assert start["iterations"] is None and start["train_images"] == 2 and start["val_images"] == 1
    data = [e for e in events if e["event"] == "data"]
    assert len(data) == 1 and data[0]["added"] == ["s3.png"] and data[0]["iteration"] == 2
    assert data[0]["train_images"] == 3 and data[0]["held_out_images"] == 1
    held = [e for e in events if e["event"] == "heldout"]
    assert [e["iteration"] for e in held] == [2, 4] and all(e["images"] == 1 for e in held)
    first, second = held
    assert first["in_use"] == "none" and first["in_use_ap"] == 0.0  # random weights: 0
    cand = Path(first["checkpoint"])
    assert cand == C.candidate_path(out, 2) and first["model_id"] == "learn-t-it2"
    ck = C.load(cand)
    fitted = fit_anchor_sizes(input_boxes(
        [r for r in load_dataset(full).images if r.file_name in ("s1.png", "s2.png")], SIDE, SIDE))
    assert fitted is not None and fitted[0] < 32  # the first two images' boxes, fitted
    assert ck["model_id"] == "learn-t-it2" and ck["anchor_sizes"] == list(fitted)
    assert C.trained_files(ck) == {"s1.png", "s2.png", "s3.png"}  # never s0, held out
    assert Predictor(weights=cand, device="cpu").model.rpn.anchor_generator.sizes == \
        tuple((s,) for s in fitted)
    # the in-use file now names the model of iteration 2: measured on the same image
    assert second["in_use"] == str(cand) and second["in_use_model"] == "learn-t-it2"
    assert second["in_use_ap"] == first["ap"]
    # what it trained on: the new image in the epoch after it came, never the held-out one
    ds = load_dataset(full)
    ids = {r.file_name: r.id for r in ds.images}
    last = C.load(C.last_path(out))
    seen = {i for e in last["history"] for part in e["seen"] for i in part} | \
        {i for part in last["epoch_progress"]["seen"] for i in part}
    assert ids["s3.png"] in seen and ids["s0.png"] not in seen
    assert json.loads(learn_path(out).read_text())["held_out"] == ["s0.png"]


def test_a_continuous_run_stopped_before_any_image_came_trains_nothing(tmp_path):
    full = shapes_dataset(tmp_path / "d", n=1, size=SIDE)
    cancel = threading.Event()
    summary = run_training(cfg_for(full, tmp_path / "m.pt", continuous=True, val_fraction=0.2),
                           lambda e: e["event"] == "waiting" and cancel.set(), cancel)
    assert summary["status"] == "cancelled" and summary["iterations"] == 0
    assert not (tmp_path / "m.pt").exists()


# --------------------------------------------------------------------------- hooks
class Recorder(Hook):
    def __init__(self):
        self.kinds, self.checkpoints, self.steps, self.reports, self.ended = [], [], [], [], []

    def event(self, e):
        self.kinds.append(e["event"])

    def checkpoint(self, e):
        self.checkpoints.append(e)

    def evaluated(self, report, loop):
        self.reports.append(report)

    def after_step(self, loop):
        self.steps.append(loop.st.iteration)

    def after_train(self, loop, summary):
        self.ended.append(summary)


def test_a_hook_hears_events_checkpoints_evaluations_steps_and_the_end(tmp_path):
    coco = shapes_dataset(tmp_path / "d", n=6, size=SIDE)  # 4 train, 2 validate
    rec, kept = Recorder(), KeepModel()
    out = tmp_path / "m.pt"
    summary = run_training(cfg_for(coco, out, batch_size=2, val_fraction=0.34),
                           hooks=[rec, kept])
    assert rec.kinds[0] == "start" and rec.kinds[-1] == "done" and "iter" in rec.kinds
    assert rec.steps == [1, 2]
    assert rec.checkpoints and rec.checkpoints[-1]["path"] == str(out) and out.is_file()
    assert len(rec.reports) == 1 and set(rec.reports[0]) >= {"bbox", "segm", "per_class"}
    assert rec.ended == [summary] and summary["status"] == "finished"
    sd = C.load(out)["model"]
    assert all(torch.equal(sd[k], v) for k, v in kept.model.state_dict().items())


def test_the_audit_folds_leave_the_callers_random_generators_alone(tmp_path):
    """The folds train in-process: they must not reseed torch's, numpy's or Python's
    generators (only an entry point seeds: model/training/rng.py seed_all)."""
    from model.audit.folds import cross_predictions
    coco = shapes_dataset(tmp_path / "d", n=4, size=SIDE)
    ds = load_dataset(coco)
    torch.manual_seed(1234)
    np.random.seed(99)
    random.seed(7)
    numpy_before, python_before = np.random.get_state(), random.getstate()
    preds = cross_predictions(ds, 2, cfg_for(coco, tmp_path / "m.pt", iterations=1),
                              workdir=tmp_path)
    assert set(preds) == {r.id for r in ds.images}
    assert torch.initial_seed() == 1234
    numpy_after = np.random.get_state()
    assert numpy_after[0] == numpy_before[0] and np.array_equal(numpy_after[1], numpy_before[1])
    assert numpy_after[2:] == numpy_before[2:]
    assert random.getstate() == python_before
