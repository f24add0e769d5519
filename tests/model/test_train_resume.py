"""--resume is exact (issue 18, item 23): a run stopped mid-epoch, resumed, killed after a
checkpoint and resumed again ends with the very tensors of a run that was never stopped;
and a killed checkpoint write leaves no temp file behind the next start (item 24)."""
from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

import main
from model.net import checkpoint_file as C
from model.errors import WeightsError
from model.data.atomic import PROCESS_START
from model.training.config import TrainConfig
from model.training.rng import seed_all
from model.training.train import run_training
from model.training.data import EpochSampler
from tests.helpers import shapes_dataset

SIDE = 64
ROOT = Path(main.__file__).resolve().parent


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, nothing is saved."""


def cfg_for(coco, out, **kw) -> TrainConfig:
    base = dict(coco=coco, out=out, weights="none", iterations=5, batch_size=1, seed=3,
                min_size=SIDE, max_size=SIDE, workers=0, val_fraction=0.25, rois_per_image=32,
                warmup_iters=2, hflip=0.5, checkpoint_every_s=0.0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """4 images: 3 to train on (3 iterations an epoch at batch size 1), 1 held out."""
    return shapes_dataset(tmp_path_factory.mktemp("resume"), n=4, size=SIDE)


def comparable(ck: dict) -> dict:
    """What must be equal bit for bit: weights, optimizer, schedule, counters, history, and
    the random state of every generator (torch, numpy, Python)."""
    history = [{k: v for k, v in e.items() if k != "time"} for e in ck["history"]]
    return {"model": ck["model"], "optimizer": ck.get("optimizer"),
            "scheduler": ck.get("scheduler"), "iteration": ck["iteration"],
            "epoch": ck["epoch"], "best_segm_ap": ck["best_segm_ap"], "history": history,
            "rng": ck.get("rng")}


def assert_same(a, b, where="") -> None:
    if isinstance(a, torch.Tensor):
        same = isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
        assert same, where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            assert_same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{k}]")
    else:
        assert a == b, (where, a, b)


def seeded(cfg: TrainConfig) -> TrainConfig:
    """What `main.py train` does before its run: its one seed_all (model/training/rng.py)."""
    seed_all(cfg.seed)
    return cfg


def test_a_stopped_and_killed_run_resumes_to_the_uninterrupted_result(data, tmp_path):
    """Each part starts with Python's generator elsewhere, as a new process's would be (its
    seed comes from os.urandom), and is seeded as the train command seeds a process: the
    saved random states must still be the same."""
    whole = tmp_path / "whole.pt"
    random.seed(1)
    run_training(seeded(cfg_for(data, whole)))

    out = tmp_path / "parts.pt"
    cancel = threading.Event()
    random.seed(2)
    stopped = run_training(seeded(cfg_for(data, out)), lambda e: e["event"] == "iter" and
                           e["iteration"] == 2 and cancel.set(), cancel)
    assert stopped["status"] == "cancelled" and C.load(C.last_path(out))["iteration"] == 2

    def kill_after_the_epoch_checkpoint(e):  # the state at iteration 3 is saved, then...
        if e["event"] == "iter" and e["iteration"] == 4:
            raise Killed
    events = []
    random.seed(3)
    with pytest.raises(Killed):
        run_training(seeded(cfg_for(data, out, resume=True)),
                     lambda e: (events.append(e), kill_after_the_epoch_checkpoint(e)))
    assert [e["iteration"] for e in events if e["event"] == "iter"] == [3, 4]  # mid-epoch on
    assert C.load(C.last_path(out))["iteration"] == 3

    random.seed(4)
    done = run_training(seeded(cfg_for(data, out, resume=True)))
    assert done["status"] == "finished" and done["iterations"] == 5
    for name in (C.last_path, lambda p: p):  # the resume state and the model to use
        assert_same(comparable(C.load(name(out))), comparable(C.load(name(whole))))


@pytest.fixture(scope="module")
def stopped(data, tmp_path_factory) -> Path:
    """The resume state of a run stopped at iteration 2 (mid-epoch)."""
    out = tmp_path_factory.mktemp("stopped") / "m.pt"
    cancel = threading.Event()
    run_training(cfg_for(data, out), lambda e: e["event"] == "iter" and e["iteration"] == 2
                 and cancel.set(), cancel)
    return C.last_path(out)


def _nan_momentum(ck):
    buf = next(iter(ck["optimizer"]["state"].values()))["momentum_buffer"]
    buf.view(-1)[0] = math.nan


def _short_momentum(ck):
    entry = next(iter(ck["optimizer"]["state"].values()))
    entry["momentum_buffer"] = entry["momentum_buffer"].flatten()[:5].clone()


SPOILED = {  # what a resume state may not hold, and what the one error says
    "NaN momentum": (_nan_momentum, "refused: 'optimizer' state of parameter 0 "
                                    "(momentum_buffer) holds NaN"),
    "negative iteration": (lambda ck: ck.update(iteration=-1), "refused: 'iteration' is -1"),
    "momentum of another shape": (_short_momentum, "refused: 'optimizer' state of parameter "
                                                   "0 (momentum_buffer) is 5, but the parameter "
                                                   "is 64x3x7x7"),
    "no optimizer": (lambda ck: ck.pop("optimizer"), "refused: not a resume state MaskLoop "
                                                     "can continue from (no 'optimizer' field)"),
}


@pytest.mark.parametrize("case", list(SPOILED))
def test_a_resume_state_is_checked_before_training_goes_on(data, stopped, tmp_path, case):
    """A NaN momentum buffer resumed "finished" with NaN weights in OUT, and a negative
    iteration was taken as it was (issue 28, item 25): refused, naming the file and the
    field, and nothing is written."""
    spoil, said = SPOILED[case]
    out = tmp_path / "m.pt"
    ck = torch.load(stopped, weights_only=True)
    spoil(ck)
    torch.save(ck, C.last_path(out))
    before = C.last_path(out).read_bytes()
    with pytest.raises(WeightsError) as e:
        run_training(cfg_for(data, out, resume=True))
    assert str(e.value).startswith(f"{C.last_path(out)}: ") and said in str(e.value), str(e.value)
    assert C.last_path(out).read_bytes() == before and not out.exists()


def test_a_refused_resume_state_is_one_error_for_the_app(data, stopped, tmp_path, capsys):
    """The app reads `--progress jsonl`: the refusal is its `error` event; exit code 2
    (bad input), and one `error:` line on stderr."""
    out = tmp_path / "m.pt"
    ck = torch.load(stopped, weights_only=True)
    _nan_momentum(ck)
    torch.save(ck, C.last_path(out))
    code = main.main(["train", str(data), "--out", str(out), "--resume", "--weights", "none",
                      "--iterations", "5", "--batch-size", "1", "--min-size", str(SIDE),
                      "--max-size", str(SIDE), "--workers", "0", "--val-fraction", "0.25",
                      "--threads", "2", "--progress", "jsonl"])
    got = capsys.readouterr()
    events = [json.loads(line) for line in got.out.splitlines()]
    assert code == 2 and [e["event"] for e in events] == ["error"], events
    assert "m.last.pt: refused: 'optimizer' state of parameter 0" in events[0]["message"]
    err = got.err.strip().splitlines()
    assert len(err) == 1 and err[0] == f"error: {events[0]['message']}"


def test_the_epoch_sampler_shuffles_shards_and_skips(tmp_path):
    """Each epoch its own order and flips (from the seed and the epoch, so nothing but the
    epoch and the position in it needs saving); ranks see disjoint shards covering all."""
    s = EpochSampler(10, seed=3, hflip=0.5)
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert sorted(i for i, _ in e0) == list(range(10)) and e0 != e1
    assert {f for _, f in e0 + e1} == {True, False}
    s.set_epoch(0)
    assert list(s) == e0  # the same again: a resume replays it
    ranks = [EpochSampler(10, seed=3, hflip=0.5, rank=r, world=3) for r in range(3)]
    for r in ranks:
        r.set_epoch(1)
    shards = [list(r) for r in ranks]
    assert all(len(x) == 4 for x in shards)  # padded to 12, as DistributedSampler does
    assert {i for x in shards for i, _ in x} == set(range(10))
    assert not any(f for _, f in EpochSampler(10, seed=3, hflip=0.0))


def test_stale_checkpoint_temps_are_removed_at_the_next_start(data, tmp_path):
    out = tmp_path / "m.pt"
    old = PROCESS_START - 60  # written by a process that is gone
    stale = [tmp_path / f".{name}.k1ll3d.tmp" for name in
             ("m.pt", "m.last.pt", "m.iter40.pt")]
    kept = [tmp_path / ".other.pt.abcd.tmp", tmp_path / ".m.pt.k33p.tmp"]  # another file's;
    for p in stale + kept:  # one being written now (newer than this process)
        p.write_bytes(b"x" * 1000)
    for p in stale + kept[:1]:
        os.utime(p, (old, old))
    at_start = []
    events = []

    def emit(e):
        events.append(e)
        if e["event"] == "start":
            at_start.extend(p for p in stale if p.exists())
    run_training(cfg_for(data, out, iterations=1, val_fraction=0.0), emit)
    assert at_start == [] and all(p.exists() for p in kept)
    said = [e["message"] for e in events if e["event"] == "info" and "temp" in e["message"]]
    assert len(said) == 1 and "m.iter40.pt" in said[0] and "3" in said[0]


@pytest.mark.slow
def test_two_torchrun_processes_resume_exactly(tmp_path):
    """Only rank 0 writes: every rank's random state and images must reach the file."""
    coco = shapes_dataset(tmp_path / "d", n=5, size=SIDE)  # 3 batches a rank an epoch

    def train(out, *extra, **popen):
        args = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2", "main.py", "train", str(coco), "--out", str(out),
                "--weights", "none", "--iterations", "4", "--batch-size", "1", "--seed", "3",
                "--min-size", str(SIDE), "--max-size", str(SIDE), "--workers", "0",
                "--val-fraction", "0", "--rois-per-image", "32", "--threads", "1", "--warmup",
                "2", "--device", "cpu", "--progress", "jsonl", *extra]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        if popen:
            return subprocess.Popen(args, cwd=ROOT, env=env, text=True, **popen)
        r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]

    train(tmp_path / "whole.pt")
    stop, out = tmp_path / "STOP", tmp_path / "parts.pt"
    p = train(out, "--stop-file", str(stop), stdout=subprocess.PIPE,
              stderr=subprocess.DEVNULL)
    for line in p.stdout:  # stop as soon as the first iteration is reported
        if line.startswith("{") and json.loads(line)["event"] == "iter":
            stop.touch()
    assert p.wait(timeout=600) == 0
    stop.unlink()
    assert C.load(C.last_path(out))["epoch_progress"]["position"] in (1, 2)  # mid-epoch
    train(out, "--resume")
    assert_same(comparable(C.load(C.last_path(out))),
                comparable(C.load(C.last_path(tmp_path / "whole.pt"))))
