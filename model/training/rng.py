"""The random state of a training process, as tensors and plain containers, so a resume
file keeps loading with torch.load(weights_only=True).

What draws during training: torch's generator (the min_size jitter of each batch, the RPN
and ROI-head samplers), the device's generator on CUDA/MPS; numpy's and Python's are saved
too, for anything that draws from them. The image order and flips need no state here:
EpochSampler draws them from the seed and the epoch.
"""
from __future__ import annotations

import random

import numpy as np
import torch


def torch_rng_state(device: torch.device) -> dict:
    """torch's generators only: what the model draws from within an iteration (40 us a
    call, where numpy's and Python's take 0.6 ms: the loop keeps this one before each step)."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def rng_state(device: torch.device, torch_state: dict | None = None) -> dict:
    """This process's generators, now; torch's as `torch_state` says when given (taken
    before an iteration whose work is being thrown away)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, words, gauss_next = random.getstate()
    state = {"numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss),
                       "cached_gaussian": float(cached)},
             "python": {"version": int(version), "state": torch.tensor(words, dtype=torch.int64),
                        "gauss_next": gauss_next}}
    state.update(torch_state or torch_rng_state(device))
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Put back what rng_state returned. Raises ValueError (or TypeError) on anything else."""
    if not isinstance(state, dict):
        raise ValueError("the random state is not a dict")
    torch.set_rng_state(_bytes(state["torch"]))
    n = state["numpy"]
    keys = n["keys"]
    if not isinstance(keys, torch.Tensor) or keys.shape != (624,):
        raise ValueError("numpy's random state is not 624 words")
    np.random.set_state((str(n["kind"]), keys.numpy().astype(np.uint32), int(n["pos"]),
                         int(n["has_gauss"]), float(n["cached_gaussian"])))
    p = state["python"]
    gauss = p["gauss_next"]
    random.setstate((int(p["version"]), tuple(int(w) for w in p["state"].tolist()),
                     None if gauss is None else float(gauss)))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(_bytes(state["cuda"]), device)
    elif device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(_bytes(state["mps"]))


def _bytes(t) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or t.dtype != torch.uint8:
        raise ValueError("a generator's state is not a byte tensor")
    return t


def seed_all(seed: int) -> None:
    """Seed torch's, numpy's and Python's generators: for entry points only (`main.py
    train`, `audit`, the benchmarks), once, before a run is built. Every generator a
    resume file records then starts from the seed (unseeded, Python's comes from
    os.urandom, and a resumed run's saved state would be another run's). A library call
    never does this: the audit trains its folds inside its caller's process."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
