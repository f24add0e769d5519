"""Where model weights come from, and loading them without ever unpickling code.

A weights spec is `coco`, `coco-v2`, `none`, or a file path (this project's
checkpoint dict, or a bare torchvision state_dict). Every file is read with
`torch.load(..., weights_only=True)`.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torchvision.models.detection import (MaskRCNN_ResNet50_FPN_V2_Weights,
                                          MaskRCNN_ResNet50_FPN_Weights)

from model.data.annotations import Category
from model.errors import Cancelled, WeightsError
from model.net.archs import ARCH_V1, ARCH_V2, ARCHS
from model.net.checkpoint_schema import check_checkpoint, check_state_dict
from model.net.norms import SCRATCH_NORM

BUILTIN = {
    "coco": (ARCH_V1, MaskRCNN_ResNet50_FPN_Weights.COCO_V1),
    "coco-v2": (ARCH_V2, MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1),
}
ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total or 0)


def coco_label_categories() -> list[Category | None]:
    """torchvision's 91 COCO labels; label i is COCO category id i, 'N/A' slots are None."""
    names = MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]
    return [None if (i == 0 or n == "N/A") else Category(i, n) for i, n in enumerate(names)]


@dataclass
class LoadedWeights:
    """Everything needed to build a model and map its labels back to category ids."""
    arch: str
    num_classes: int  # including background
    label_categories: list[Category | None]  # index = model label; None = never reported
    state_dict: dict | None  # None: random init
    model_id: str
    min_size: int | None = None
    max_size: int | None = None
    checkpoint: dict = field(default_factory=dict)  # the full dict, for training to resume
    norm: str = "frozen"  # model.net.build.NORMS: what the model must be built with
    anchor_sizes: tuple[int, ...] | None = None  # the RPN's per FPN level (None: torchvision's)


def hub_checkpoint_path(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def download(url: str, dst: Path, progress: ProgressFn | None = None,
             cancel: threading.Event | None = None, timeout: float = 30.0) -> None:
    """Stream url to dst atomically, checking torch hub's sha256 prefix in the name."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial")
    sha = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as f:
        total = int(resp.headers.get("Content-Length") or 0)
        done = 0
        while True:
            if cancel is not None and cancel.is_set():
                f.close()
                tmp.unlink(missing_ok=True)
                raise Cancelled("download cancelled")
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            f.write(chunk)
            sha.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    m = re.search(r"-([a-f0-9]{6,})\.", dst.name)
    if m and not sha.hexdigest().startswith(m.group(1)):
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"downloaded file from {url} is corrupt (sha256 mismatch); try again")
    os.replace(tmp, dst)


def fetch_builtin(spec: str, allow_download: bool, progress: ProgressFn | None,
                   cancel: threading.Event | None) -> Path:
    arch, enum = BUILTIN[spec]
    path = hub_checkpoint_path(enum.url)
    if path.is_file():
        return path
    advice = ("Copy the file there, pass --weights PATH to a checkpoint you have, "
              "or use --weights none to start from random weights and train from scratch.")
    if not allow_download:
        raise WeightsError(f"The '{spec}' weights ({arch}) are not in the torch hub cache "
                           f"(looked for {path}). {advice}")
    try:
        download(enum.url, path, progress, cancel)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", None) or e
        raise WeightsError(
            f"The '{spec}' weights ({arch}) are not in the torch hub cache (looked for {path}) "
            f"and could not be downloaded from {enum.url}: {reason}. You seem to be offline. "
            f"{advice}") from None
    return path


def safe_torch_load(path: Path) -> object:
    """torch.load restricted to tensors and plain containers; a pickle with code is refused."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "GLOBAL" not in text and "global" not in text:  # no code refused: bad bytes
            raise WeightsError(f"{path}: not a readable PyTorch weights file (corrupt, "
                               "truncated or another format)") from None
        first = next((ln.strip() for ln in text.splitlines() if "GLOBAL" in ln
                      or "global" in ln), "unsupported content")
        raise WeightsError(
            f"{path}: refused to load: the file holds Python objects beyond tensors and plain "
            f"containers, which could run code ({first}). If you trust it, re-save just its "
            "state_dict with torch.save(model.state_dict(), 'weights.pth').") from None
    except Exception as e:  # zip/format errors, truncated files
        raise WeightsError(f"{path}: not a readable PyTorch weights file ({e})") from None


def load_file(path: Path | str) -> LoadedWeights:
    """A MaskLoop checkpoint or a bare state_dict, every field checked (checkpoint_schema)."""
    path = Path(path)
    obj = safe_torch_load(path)
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a checkpoint dict or a state_dict, "
                           f"got {type(obj).__name__}")
    if isinstance(obj.get("model"), dict):
        ok = check_checkpoint(obj, path)
        cats = ok.categories or default_label_categories(ok.num_classes)
        return LoadedWeights(ok.arch, ok.num_classes, cats, ok.state_dict,
                             obj.get("model_id") or path.stem, obj.get("min_size"),
                             obj.get("max_size"), checkpoint=obj, norm=ok.norm,
                             anchor_sizes=ok.anchor_sizes)
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: a dict, but neither a MaskLoop checkpoint (no 'model' "
                           "entry) nor a state_dict of tensors")
    ok = check_state_dict(obj, path)
    return LoadedWeights(ok.arch, ok.num_classes, default_label_categories(ok.num_classes),
                         ok.state_dict, f"file:{path.name}", norm=ok.norm)


def default_label_categories(num_classes: int) -> list[Category | None]:
    """The label table of weights that carry none: COCO's for 91 classes, else class_i."""
    if num_classes == 91:
        return coco_label_categories()
    return [None] + [Category(i, f"class_{i}") for i in range(1, num_classes)]


def resolve_weights(spec: str | os.PathLike, arch: str | None = None, allow_download: bool = True,
                    progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> LoadedWeights:
    """Turn a weights spec into tensors plus the label table, or a WeightsError."""
    if arch is not None and arch not in ARCHS:
        raise WeightsError(f"unknown arch {arch!r}; choose {ARCHS[0]} or {ARCHS[1]}")
    key = str(spec).strip().lower() if isinstance(spec, str) else None
    if key == "none":
        a = arch or ARCH_V1
        # random weights: built to learn from scratch (v1; v2 keeps torchvision's layout)
        return LoadedWeights(a, 91, coco_label_categories(), None, f"random-init:{a}",
                             norm=SCRATCH_NORM if a == ARCH_V1 else "frozen")
    if key in BUILTIN:
        builtin_arch, enum = BUILTIN[key]
        if arch is not None and arch != builtin_arch:
            raise WeightsError(f"'{key}' weights are for {builtin_arch}, not {arch}")
        path = fetch_builtin(key, allow_download, progress, cancel)
        obj = safe_torch_load(path)
        if not isinstance(obj, dict):
            raise WeightsError(f"{path}: not a state_dict; delete it to download it again")
        sd = check_state_dict(obj, path, norm="frozen").state_dict
        return LoadedWeights(builtin_arch, 91, coco_label_categories(), sd,
                             f"torchvision:{builtin_arch}:COCO_V1")
    loaded = load_file(Path(spec))
    if arch is not None and arch != loaded.arch:
        raise WeightsError(f"{spec}: these weights are for {loaded.arch}, but {arch} was asked for")
    return loaded
