"""Fine-tuning core on a synthetic dataset of simple shapes, from weights="none"."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import main
from model.net import checkpoint as C
from model.data.annotations import Category
from model.net.build import build_model
from model.data.coco import load_dataset, save_dataset
from model.net.predictor import Predictor
from model.training.start import start_model
from model.training.config import TrainConfig
from model.training.hooks import KeepModel
from model.training.prepare import loader_workers
from model.training.rng import seed_all
from model.training.train import run_training
from model.errors import TrainingDataError, TrainingError
from model.training.data import LabelTable, TrainSet, select_samples
from model.net.weights import ARCH_V1
from tests.helpers import S, shapes_dataset

ROOT = Path(main.__file__).resolve().parent


def cfg_for(coco: Path, out: Path, **kw) -> TrainConfig:
    base = dict(coco=coco, out=out, weights="none", iterations=2, min_size=S, max_size=S,
                workers=0, val_fraction=0.0, rois_per_image=64, warmup_iters=5)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return shapes_dataset(tmp_path_factory.mktemp("shapes"))


@pytest.mark.slow
def test_loss_decreases_over_30_iterations(tmp_path):
    coco = shapes_dataset(tmp_path / "d", n=10, seed=1)  # 10 iterations an epoch: few saves
    losses = []
    run_training(cfg_for(coco, tmp_path / "m.pt", iterations=30, batch_size=1),
                 lambda e: e["event"] == "iter" and losses.append(e["loss"]))
    assert len(losses) == 30 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_checkpoint_round_trip_is_exact(shapes, tmp_path):
    out = tmp_path / "m.pt"
    kept = KeepModel()
    run_training(cfg_for(shapes, out), hooks=[kept])
    trained = kept.model.eval()
    ck = C.load(out)  # weights_only=True underneath
    assert ck["arch"] == ARCH_V1 and ck["num_classes"] == 3 and ck["min_size"] == S
    assert ck["categories"] == [{"id": 5, "name": "disc", "supercategory": None},
                                {"id": 9, "name": "square", "supercategory": None}]
    for k, v in trained.state_dict().items():
        assert torch.equal(ck["model"][k], v.cpu()), k
    img = cv2.imread(str(shapes.parent / "s0.png"))[:, :, ::-1].copy()
    ours = Predictor(weights=out, device="cpu", score_threshold=0.0)
    live = Predictor.from_model(trained, ours.label_categories, "cpu", "live")
    live.model.roi_heads.score_thresh = 0.0
    a, b = ours.predict(img), live.predict(img)
    assert [(i.category_id, i.score, i.offset) for i in a] == [(i.category_id, i.score, i.offset) for i in b]
    assert all(np.array_equal(x.mask, y.mask) for x, y in zip(a, b))
    assert {i.category_id for i in a} <= {5, 9}  # labels map back to the dataset's ids
    assert a and a[0].model == ck["model_id"]
    assert oct(out.stat().st_mode & 0o777) != "0o600"


def test_label_table_and_head_replacement(shapes, tmp_path):
    ds = load_dataset(shapes)
    labels = LabelTable.from_dataset(ds)
    assert labels.num_classes == 3 and labels.label(9) == 2
    coco_like = build_model(ARCH_V1, 91)
    start = tmp_path / "coco_like.pth"
    torch.save(coco_like.state_dict(), start)
    ds.categories[0] = Category(5, "person")  # a class the 91-label start weights know
    labels = LabelTable(ds.categories)
    model, arch, *_ = start_model(cfg_for(shapes, tmp_path / "m.pt", weights=str(start)), labels, lambda e: None, True)
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
    sd = coco_like.state_dict()
    assert torch.equal(model.backbone.body.conv1.weight, sd["backbone.body.conv1.weight"])
    w = model.roi_heads.box_predictor.cls_score.weight
    assert torch.equal(w[1], sd["roi_heads.box_predictor.cls_score.weight"][1])  # person row
    assert not torch.equal(w[2], sd["roi_heads.box_predictor.cls_score.weight"][2])
    # our own checkpoint with the same classes: its heads are kept as they are
    out = tmp_path / "own.pt"
    run_training(cfg_for(shapes, out))
    events = []
    model2, *_ = start_model(cfg_for(shapes, tmp_path / "m2.pt", weights=str(out)),
                        LabelTable.from_dataset(load_dataset(shapes)), events.append, True)
    assert "heads" in events[0]["message"]
    assert torch.equal(model2.roi_heads.box_predictor.cls_score.weight,
                       C.load(out)["model"]["roi_heads.box_predictor.cls_score.weight"])


def test_a_checkpoint_lists_the_files_it_was_trained_on_with_its_lineage(tmp_path):
    """An evaluation must know which images a model has seen: training records its train
    split's file names (never the held-out ones), and those of the run it started from."""
    first = shapes_dataset(tmp_path / "a", n=6)
    out1 = tmp_path / "v1.pt"
    events = []
    run_training(cfg_for(first, out1, iterations=1, val_fraction=0.34), events.append)
    start = next(e for e in events if e["event"] == "start")
    files1 = C.trained_files(C.load(out1))
    assert len(files1) == start["train_images"] == 4
    assert files1 < {f"s{k}.png" for k in range(6)}
    assert Predictor(weights=out1, device="cpu").trained_on == files1
    second = shapes_dataset(tmp_path / "b", n=3, seed=3)  # s0..s2: other pixels, same names
    out2 = tmp_path / "v2.pt"
    run_training(cfg_for(second, out2, iterations=1, weights=str(out1)))
    assert C.trained_files(C.load(out2)) == files1 | {"s0.png", "s1.png", "s2.png"}
    # anything else in that field reads as unknown, never as an error
    for bad in ({"train_files": "s0.png"}, {"train_files": [1, 2]}, {"train_files": [""]}, 7):
        assert C.trained_files({"data": bad}) == frozenset()


def test_selection_negatives_rejected_and_crowd(tmp_path):
    coco = shapes_dataset(tmp_path / "d", n=5)
    ds = load_dataset(coco)
    r0, r1, r2, r3, r4 = ds.images
    r0.instances[0].review = "rejected"
    r0.instances[1].iscrowd = True
    r1.instances = []  # reviewed, empty: a negative
    r2.status = "unreviewed"
    for i in r2.instances:  # predictions nobody looked at: left out
        i.review, i.source, i.score = "unreviewed", "model", 0.9
    r3.status = "in_progress"
    r3.instances[0].review = "unreviewed"  # an untouched prediction beside an accepted one:
    r3.instances[0].source = "model"  # corrected, but its unlabelled objects would be background
    r3.instances[0].score = 0.8
    save_dataset(ds, coco)
    samples, _ = select_samples(load_dataset(coco))
    by_id = {s.rec.id: s for s in samples}
    assert set(by_id) == {r0.id, r1.id, r4.id}
    assert by_id[r0.id].instances == [] and by_id[r1.id].instances == []
    with_corrected, _ = select_samples(load_dataset(coco), include_corrected=True)
    by_id = {s.rec.id: s for s in with_corrected}
    assert set(by_id) == {r0.id, r1.id, r3.id, r4.id}
    assert len(by_id[r3.id].instances) == 1  # the accepted one; the prediction is not taught
    item = TrainSet([by_id[r1.id]], LabelTable.from_dataset(ds), hflip=0)[0]
    assert item[1]["boxes"].shape == (0, 4) and item[1]["labels"].shape == (0,)
    assert item[1]["masks"].shape == (0, S, S)
    run_training(cfg_for(coco, tmp_path / "m.pt", iterations=2, batch_size=2))  # negatives train


def test_no_reviewed_images_is_a_clear_error(tmp_path):
    coco = shapes_dataset(tmp_path / "d", n=2)
    ds = load_dataset(coco)
    for rec in ds.images:
        rec.status = "unreviewed"
        for i in rec.instances:
            i.review, i.source, i.score = "unreviewed", "model", 0.9
    save_dataset(ds, coco)
    with pytest.raises(TrainingDataError, match="no reviewed images"):
        select_samples(load_dataset(coco))
    assert len(select_samples(load_dataset(coco), all_images=True)[0]) == 2


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(shapes, tmp_path, monkeypatch):
    import model.training.start as T
    real_build = T.build_model
    calls = {"n": 0}

    def poisoned(*a, **k):
        m = real_build(*a, **k)
        forward = m.forward

        def fw(images, targets=None):
            out = forward(images, targets)
            calls["n"] += 1
            if m.training and calls["n"] == 5:
                out["loss_mask"] = out["loss_mask"] * float("nan")
            return out
        m.forward = fw
        return m
    monkeypatch.setattr(T, "build_model", poisoned)
    out = tmp_path / "m.pt"
    with pytest.raises(TrainingError, match=r"non-finite loss at iteration 5 .*last good checkpoint"):
        run_training(cfg_for(shapes, out, iterations=10))  # 3 iterations an epoch
    ck = C.load(C.last_path(out))  # saved when the loss went bad, mid-epoch, before the step
    assert ck["iteration"] == 4 and out.is_file() and all(torch.isfinite(v).all() for v in ck["model"].values()
                                        if v.is_floating_point())


class _Poisoned(torch.optim.SGD):
    """SGD whose step number `at` turns the first weight to NaN, its loss still finite:
    a step can do that (a huge finite gradient, a NaN momentum) where the loss check,
    made before the step, cannot see it."""
    at = 0

    def step(self, closure=None):
        out = super().step(closure)
        self.done = getattr(self, "done", 0) + 1
        if self.done == self.at:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return out


@pytest.mark.parametrize("at", [4, 5])
def test_weights_that_turn_non_finite_stop_the_run_and_keep_the_last_good_checkpoints(
        shapes, tmp_path, monkeypatch, capsys, at):
    """5 iterations, 3 an epoch: both files are written at iteration 3. Step 4 poisoned:
    iteration 5's loss is NaN and the stop would save the NaN weights; step 5 poisoned: the
    run ended "finished" with NaN weights in OUT (issue 28, item 25). Now: one error, exit
    code 1, an `error` event for the app, and both files as they were at iteration 3."""
    monkeypatch.setattr(_Poisoned, "at", at)
    monkeypatch.setattr(torch.optim, "SGD", _Poisoned)
    out = tmp_path / "m.pt"
    code = main.main(["train", str(shapes), "--out", str(out), "--weights", "none",
                      "--iterations", "5", "--min-size", str(S), "--max-size", str(S),
                      "--workers", "0", "--val-fraction", "0", "--rois-per-image", "64",
                      "--warmup", "5", "--checkpoint-minutes", "0", "--threads", "2",
                      "--progress", "jsonl"])
    got = capsys.readouterr()
    events = [json.loads(line) for line in got.out.splitlines()]
    assert code == 1 and events[-1]["event"] == "error", events[-1]
    assert not any(e["event"] == "done" for e in events)
    said = f"non-finite weights at iteration {at} (tensor backbone.body.conv1.weight holds " \
           f"NaN); training stopped and the last good checkpoint is kept at {C.last_path(out)}"
    assert said in events[-1]["message"]
    err = got.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and said in err[0]
    assert [e["iteration"] for e in events if e["event"] == "checkpoint"] == [3]
    assert C.load(out)["iteration"] == C.load(C.last_path(out))["iteration"] == 3


def test_resume_state_is_written_when_due_and_at_the_end(shapes, tmp_path):
    """Hundreds of MB each: not after every epoch, but every checkpoint_every_s and last."""
    for every, expected in ((600.0, [9]), (0.0, [3, 6, 9])):
        events = []
        out = tmp_path / f"m{int(every)}.pt"
        run_training(cfg_for(shapes, out, iterations=9, checkpoint_every_s=every), events.append)
        written = [e["iteration"] for e in events if e["event"] == "checkpoint"]
        assert written == expected, every
        assert C.load(C.last_path(out))["iteration"] == 9 and C.load(out)["iteration"] == 9


def test_snapshots_keep_the_model_at_those_iterations(shapes, tmp_path):
    out = tmp_path / "m.pt"
    run_training(cfg_for(shapes, out, iterations=3, snapshots=(1, 2)))
    assert [C.load(C.snapshot_path(out, n))["iteration"] for n in (1, 2)] == [1, 2]
    assert not C.snapshot_path(out, 3).exists() and C.load(out)["iteration"] == 3


def test_a_run_is_reproducible_without_loader_workers(shapes, tmp_path):
    """Flips draw from torch's seeded generator: two runs seeded as `main.py train` seeds
    them (its one seed_all) give the same weights."""
    got = []
    for k in range(2):
        seed_all(0)
        run_training(cfg_for(shapes, tmp_path / f"r{k}.pt", iterations=3, hflip=0.5))
        got.append(C.load(tmp_path / f"r{k}.pt")["model"])
    assert all(torch.equal(got[0][name], got[1][name]) for name in got[0])


def test_out_of_memory_message_names_batch_and_suggests(shapes, tmp_path, monkeypatch):
    import model.training.start as T
    real_build = T.build_model

    def hungry(*a, **k):
        m = real_build(*a, **k)
        m.forward = lambda *x, **y: (_ for _ in ()).throw(RuntimeError("CUDA out of memory. Tried"))
        return m
    monkeypatch.setattr(T, "build_model", hungry)
    with pytest.raises(TrainingError, match=r"batch of 2 image\(s\) at min_size 96.*--batch-size 1"):
        run_training(cfg_for(shapes, tmp_path / "m.pt"))


def test_cancel_saves_a_checkpoint(shapes, tmp_path):
    cancel = threading.Event()

    def emit(e):
        if e["event"] == "iter":
            cancel.set()
    out = tmp_path / "m.pt"
    summary = run_training(cfg_for(shapes, out, iterations=50), emit, cancel)
    assert summary["status"] == "cancelled" and summary["iterations"] == 1
    assert C.load(C.last_path(out))["iteration"] == 1 and out.is_file()


def test_resume_continues_the_run(shapes, tmp_path):
    out = tmp_path / "m.pt"
    run_training(cfg_for(shapes, out, iterations=2))
    first = C.load(C.last_path(out))
    events = []
    run_training(cfg_for(shapes, out, iterations=4, resume=True), events.append)
    start = next(e for e in events if e["event"] == "start")
    assert start["start_iteration"] == 2
    iters = [e["iteration"] for e in events if e["event"] == "iter"]
    assert iters == [3, 4]
    ck = C.load(C.last_path(out))
    assert ck["iteration"] == 4 and len(ck["history"]) == len(first["history"]) + 1


def test_validation_runs_through_evaluate(shapes, tmp_path):
    events = []
    run_training(cfg_for(shapes, tmp_path / "m.pt", iterations=3, val_fraction=0.2), events.append)
    start = next(e for e in events if e["event"] == "start")
    assert start["val_images"] == 1 and start["train_images"] == 5
    val = [e for e in events if e["event"] == "val"]
    assert val and set(val[0]["metrics"]) == {"bbox", "segm"}
    ck = C.load(tmp_path / "m.pt")
    assert "val" in ck["history"][-1] and "AP" in ck["history"][-1]["val"]["segm"]


def test_cli_jsonl_and_bad_inputs(shapes, tmp_path, capsys):
    out = tmp_path / "m.pt"
    args = ["train", str(shapes), "--out", str(out), "--weights", "none", "--iterations", "1",
            "--min-size", "96", "--max-size", "96", "--workers", "0", "--val-fraction", "0",
            "--rois-per-image", "64", "--threads", "2"]
    assert main.main(args + ["--progress", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in lines]
    assert kinds[0] == "start" and "iter" in kinds and kinds[-1] == "done"
    it = next(e for e in lines if e["event"] == "iter")
    assert {"iteration", "epoch", "losses", "lr", "images_per_s", "eta_s"} <= set(it)
    # a missing image
    (shapes.parent / "s3.png").rename(tmp_path / "away.png")
    try:
        assert main.main(args) == 2  # bad input
        assert "s3.png" in capsys.readouterr().err
    finally:
        (tmp_path / "away.png").rename(shapes.parent / "s3.png")
    # unknown category ids
    bad = json.loads(shapes.read_text())
    bad["annotations"][0]["category_id"] = 77
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main.main(["train", str(tmp_path / "bad.json"), "--out", str(out)]) == 2
    assert "category_id 77" in capsys.readouterr().err
    # weights for another architecture
    from torchvision.models import resnet18
    torch.save(resnet18().state_dict(), tmp_path / "r18.pth")
    assert main.main(args[:4] + ["--weights", str(tmp_path / "r18.pth")] + args[6:]) == 2
    assert "not a Mask R-CNN" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_cpu_processes_with_gloo(shapes, tmp_path):
    out = tmp_path / "ddp.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "main.py", "train", str(shapes), "--out", str(out), "--weights", "none",
         "--iterations", "2", "--batch-size", "1", "--min-size", "96", "--max-size", "96",
         "--workers", "0", "--val-fraction", "0", "--rois-per-image", "64", "--threads", "1",
         "--device", "cpu", "--progress", "jsonl"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert sum(e["event"] == "done" for e in events) == 1  # only rank 0 logs
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["ddp.last.pt", "ddp.pt"]  # one run's checkpoint, written once
    ck = C.load(out)
    assert ck["iteration"] == 2
    seen = ck["history"][-1]["seen"]
    assert len(seen) == 2 and seen[0] and seen[1] and not set(seen[0]) & set(seen[1])


def test_loader_workers_leave_cpu_cores_to_the_model_but_feed_a_gpu(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert loader_workers(4, 16, 1) == 0  # the CPU model takes every core
    assert loader_workers(4, 12, 1) == 4
    assert loader_workers(8, 15, 1) == 1
    assert loader_workers(4, 16, 1, on_gpu=True) == 4  # the GPU needs one core to launch work
    assert loader_workers(32, 16, 2, on_gpu=True) == 14


@pytest.mark.parametrize("hflip", [0.0, 1.0])
def test_training_targets_are_the_masks_and_their_tight_boxes_flipped_or_not(tmp_path, hflip):
    """Each crop is placed (and flipped) on its own: the result must equal pasting the
    full masks and flipping the whole stack, parts past the image edge cut off."""
    from model.data.annotations import Dataset, Instance
    from model.training.data import Sample
    from tests.helpers import ring, two_parts, write_image
    h, w = 40, 56
    write_image(tmp_path / "a.png", h, w)
    ds = Dataset([Category(3, "x"), Category(8, "y")], image_root=tmp_path)
    rec = ds.add_image("a.png", w, h)
    edge = np.zeros((12, 12), bool)
    edge[2:10, 1:11] = True
    insts = [Instance(3, ring(h, w, 20, 20, 12, 5)), Instance(8, two_parts(h, w)),
             Instance(3, edge, (50, 34))]  # reaches past the right and bottom edges
    for i in insts:
        ds.add_instance(rec, i)
    image, target = TrainSet([Sample(rec, tmp_path / "a.png", insts)],
                             LabelTable.from_dataset(ds), hflip=hflip)[0]
    full = np.zeros((len(insts), h, w), np.uint8)
    for k, i in enumerate(insts):
        m = np.zeros((h + 20, w + 20), np.uint8)
        m[i.offset[1]:i.offset[1] + i.mask.shape[0], i.offset[0]:i.offset[0] + i.mask.shape[1]] \
            = i.mask
        full[k] = m[:h, :w]
    if hflip:
        full = full[:, :, ::-1]
    assert np.array_equal(target["masks"].numpy(), full)
    for k, m in enumerate(full):
        ys, xs = np.nonzero(m)
        assert target["boxes"][k].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert target["labels"].tolist() == [1, 2, 1]
    rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "a.png")), cv2.COLOR_BGR2RGB)
    want = rgb[:, ::-1] if hflip else rgb
    assert np.allclose(image.permute(1, 2, 0).numpy() * 255, want, atol=0.01)


def test_training_leaves_torch_threads_to_the_caller(shapes, tmp_path):
    """A library sets no process-wide state: the train command decides the thread count
    (model/cli/train.py), run_training does not."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_training(cfg_for(shapes, tmp_path / "m.pt", iterations=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_train_opens_a_linked_image_only_with_follow_symlinks(shapes, tmp_path):
    """`train` took no --follow-symlinks although its refusal said the flag opens the file
    (issue 28, item 13: every command that reads a dataset honours it)."""
    import shutil
    from model.training.prepare import load_data
    ds = load_dataset(shapes)
    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    first = ds.images[0]
    for rec in ds.images:
        shutil.copy(ds.image_path(rec), (outside if rec is first else data) / rec.file_name)
    os.symlink(outside / first.file_name, data / first.file_name)
    ds.image_root = data
    save_dataset(ds, data / "instances.json")

    def samples(**kw):
        events = []
        got = load_data(cfg_for(data / "instances.json", tmp_path / "m.pt",
                                all_images=True, **kw), events.append)
        return len(got.train) + len(got.val), events
    with pytest.raises(TrainingDataError, match=r"s0\.png: a symbolic link.*--follow-symlinks"):
        samples()
    n, events = samples(follow_symlinks=True)
    assert n == len(ds.images) and not any("symbolic link" in e.get("message", "")
                                           for e in events)
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "train", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--follow-symlinks" in out
