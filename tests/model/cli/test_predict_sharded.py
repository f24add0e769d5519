"""`torchrun --nproc_per_node N main.py predict …`: the images are sharded over the
ranks and rank 0 writes one COCO file, the same as a single process writes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.net.build import build_model
from model.training.distributed import Dist
from tests.helpers import write_image

ROOT = Path(__file__).resolve().parents[3]


def test_shards_cover_every_item_once_in_distributed_sampler_order():
    items = list(range(7))
    shards = [Dist(r, 3).shard(items) for r in range(3)]
    assert shards == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(i for s in shards for i in s) == items
    assert Dist().shard(items) == items


@pytest.mark.slow
def test_two_gloo_ranks_write_what_one_process_writes(tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for k in range(5):
        write_image(imgs / f"img{k}.png", 64, 80, seed=k)
    torch.manual_seed(0)
    weights = tmp_path / "w.pth"  # the same weights in every process
    torch.save(build_model("maskrcnn_resnet50_fpn", 3, 64, 64).state_dict(), weights)
    args = ["main.py", "predict", str(imgs), "--weights", str(weights), "--device", "cpu",
            "--min-size", "64", "--max-size", "64", "--score-threshold", "0"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one.json")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", *args, "--out", str(tmp_path / "two.json")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "(2 ranks)" in two.stderr
    a = json.loads((tmp_path / "one.json").read_text())
    b = json.loads((tmp_path / "two.json").read_text())
    assert a["annotations"], "the test needs detections to compare"
    assert a == b  # images in the input's order with its ids, annotations numbered alike
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "one.json", "two.json",
                                                          "w.pth"]  # no rank parts left
