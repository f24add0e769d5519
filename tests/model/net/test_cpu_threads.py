"""How many CPU threads the model gets: the app leaves a core to the window, the command
line takes every core, and an explicit OMP_NUM_THREADS (torchrun sets one per rank) wins."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = ("import sys; from model.net.devices import configure_cpu_threads as c; "
         "print(c(int(sys.argv[1])), c(0))")  # the second call changes nothing: once a process


def threads(reserve: int, omp: str | None) -> tuple[int, int]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    out = subprocess.run([sys.executable, "-c", PROBE, str(reserve)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    first, second = map(int, out.split())
    return first, second


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to leave one free")
def test_reserve_then_env_wins():
    cores = os.cpu_count()
    assert threads(1, None) == (cores - 1, cores - 1)
    assert threads(0, None) == (cores, cores)
    assert threads(1, "1") == (1, 1)
    assert threads(0, "junk") == (cores, cores)


def test_building_a_predictor_leaves_the_thread_count_alone():
    """A library must not change process-wide settings: the entry point decides, once."""
    probe = ("import torch; before = torch.get_num_threads()\n"
             "from model.net.predictor import Predictor\n"
             "Predictor(weights='none', device='cpu', min_size=64, max_size=96)\n"
             "print(before, torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    before, after = map(int, out.split())
    assert after == before
