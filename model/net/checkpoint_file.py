"""MaskLoop checkpoints: a plain dict saved atomically with torch.save, loaded with
weights_only=True. Layout (see GUIDE.md): arch, num_classes, categories (label
order), min_size, max_size, model (state_dict), history, plus what --resume needs."""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from model.data.atomic import atomic_write, remove_stale_temps
from model.errors import WeightsError
from model.net.build import anchor_sizes_of
from model.net.checkpoint_schema import FORMAT, check_checkpoint
from model.net.norms import infer_norm
from model.net.weights import safe_torch_load


def last_path(out: Path) -> Path:
    """Where the resumable state of a run that writes `out` lives."""
    out = Path(out)
    return out.with_name(f"{out.stem}.last{out.suffix or '.pt'}")


def snapshot_path(out: Path, iteration: int) -> Path:
    """Where `train --snapshots` keeps the model of a run that writes `out` at an iteration."""
    out = Path(out)
    return out.with_name(f"{out.stem}.iter{iteration}{out.suffix or '.pt'}")


def candidate_path(out: Path, iteration: int) -> Path:
    """Where a continuous run (`train --continuous`) writes a model that beat the version in
    use on its held-out images."""
    out = Path(out)
    return out.with_name(f"{out.stem}.cand{iteration}{out.suffix or '.pt'}")


def remove_stale_run_temps(out: Path) -> list[Path]:
    """Temp files that killed writes of a run's checkpoints left (OUT, OUT.last.pt,
    OUT.iterN.pt: hundreds of MB each). A save removes its own file's; this clears them
    all when a run starts, snapshots included, which are never written twice."""
    out = Path(out)
    stem, suffix = re.escape(out.stem), re.escape(out.suffix or ".pt")
    return remove_stale_temps(out, rf"{re.escape(out.name)}|{stem}\.(?:last|iter\d+|cand\d+){suffix}")


def save(path: Path, ckpt: dict) -> None:
    atomic_write(path, lambda f: torch.save(ckpt, f))


def load(path: Path, resume: bool = False) -> dict:
    """A checkpoint dict, every field checked (model.net.checkpoint_schema; WeightsError
    otherwise), its state_dict without DDP's "module." prefix. `resume`: it must also hold
    what --resume needs."""
    ckpt = safe_torch_load(Path(path))
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise WeightsError(f"{path}: not a MaskLoop checkpoint (no 'model' state_dict)")
    ckpt["model"] = check_checkpoint(ckpt, Path(path), resume=resume).state_dict
    return ckpt


def make(model: nn.Module, *, arch: str, categories: list[dict], min_size: int, max_size: int,
         history: list, model_id: str, extra: dict | None = None) -> dict:
    m = model.module if hasattr(model, "module") else model
    ckpt = {"format": FORMAT, "arch": arch, "num_classes": len(categories) + 1,
            "categories": categories, "min_size": int(min_size), "max_size": int(max_size),
            "model": {k: v.detach().cpu() for k, v in m.state_dict().items()},
            "history": history, "model_id": model_id}
    ckpt["norm"] = infer_norm(ckpt["model"])  # what to build to load it
    anchors = anchor_sizes_of(m)
    if anchors is not None:  # what to build it with (model/training/anchors.py)
        ckpt["anchor_sizes"] = list(anchors)
    ckpt.update(extra or {})
    return ckpt


MAX_TRAIN_FILES = 10_000_000  # a longer list is not believed


def trained_files(ckpt: dict) -> frozenset[str]:
    """The image file names a checkpoint's model was trained on, its start weights' runs
    included (training records them under data.train_files). Data from a file: anything
    but a list of short strings reads as unknown (empty), never as an error."""
    data = ckpt.get("data") if isinstance(ckpt, dict) else None
    names = data.get("train_files") if isinstance(data, dict) else None
    if not isinstance(names, list) or len(names) > MAX_TRAIN_FILES \
            or not all(isinstance(n, str) and 0 < len(n) <= 4096 for n in names):
        return frozenset()
    return frozenset(names)
