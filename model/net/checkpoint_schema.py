"""Every field of a weights file, checked on load before anything is built from it.

A checkpoint is data from a file. A tensor where text belongs, a category id of 2**70, a
negative iteration, a NaN momentum buffer, or a 100000x100000 tensor of stride 0 (a few bytes
on disk, 40 GB to check for NaN) must each be one error that names the file and the field,
never a traceback, a model that predicts nothing, or a run that trains NaN into its weights.

The order matters: types and ranges first; then every tensor's shape against the architecture
the file claims (a skeleton built on the meta device: no memory, ~0.1 s), so no value is read
from a tensor of a size the model could not have; values (NaN, infinities) last.

This is the one place: model.net.weights (predict, audit, the app's weights chooser,
fine-tuning from a file, the COCO weights) and model.net.checkpoint_file.load (resume, the app's
run history) both come here, and training checks what it writes with `non_finite_problem`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Iterable

import torch

from model.data.annotations import Category
from model.data.coco_validate import is_id
from model.errors import WeightsError
from model.net.archs import ARCH_V1, ARCH_V2, ARCHS
from model.net.norms import BN_COUNTER, NORMS, infer_norm
from model.net.sizes import size_problem

FORMAT = "maskloop-checkpoint/1"
MAX_CLASSES = 10_000  # categories a model may have (LVIS has 1,203): heads grow with them
MAX_ITERATIONS = 10 ** 9
MAX_WORLD = 65_536  # training processes
MAX_ANCHOR = 8192  # pixels: twice the longest side a model may be given
RESUME_FIELDS = ("arch", "num_classes", "categories", "history", "epoch", "iteration",
                 "optimizer", "scheduler")
CLS_KEY = "roi_heads.box_predictor.cls_score.weight"
MASK_KEY = "roi_heads.mask_predictor.mask_fcn_logits.weight"


class Bad(Exception):
    """One problem, worded to follow '<file>: refused: '."""


@dataclass
class Checked:
    """What a checked file holds, for the caller to build from."""
    arch: str
    num_classes: int  # background included
    norm: str  # model.net.norms.NORMS
    state_dict: dict  # "module." prefixes (DistributedDataParallel's) stripped
    categories: list[Category | None] | None  # label order, [0] background; None: not given
    anchor_sizes: tuple[int, ...] | None = None  # the RPN's, per FPN level; None: torchvision's


def check_checkpoint(obj: dict, path, resume: bool = False) -> Checked:
    """A MaskLoop checkpoint dict (a "model" state_dict and its fields). `resume`: it must
    also hold what --resume needs. Raises WeightsError naming the file and the field."""
    try:
        return _checkpoint(obj, resume)
    except Bad as e:
        raise WeightsError(f"{path}: refused: {e}") from None


def check_state_dict(sd: dict, path, norm: str | None = None) -> Checked:
    """A bare torchvision Mask R-CNN state_dict (norm: what it is built with, when the
    caller knows better than its keys say)."""
    try:
        sd = _tensors(sd, "the state_dict")
        arch, n = infer_arch(sd)
        norm = norm or infer_norm(sd)
        _shapes(sd, arch, n, norm)
        _finite(sd.items(), "tensor")
        return Checked(arch, n, norm, sd, None)
    except Bad as e:
        raise WeightsError(f"{path}: refused: {e}") from None


def non_finite_problem(tensors: Iterable[tuple[str, Any]], what: str = "tensor") -> str | None:
    """The first floating tensor holding NaN or an infinity (such weights predict nothing,
    silently), or None. Only for tensors whose shapes are known to be the model's.

    A sum is finite only if every value is, and costs a third of isfinite().all() (1.4 s
    against 4.9 s for a Mask R-CNN's 44 M values on a busy 2-core machine): one sum a
    tensor, one device sync in all; only a non-finite sum (or one that overflowed) is
    looked at value by value. A dimension of stride 0 repeats one slice, which is
    checked once."""
    named = [(k, _distinct(v)) for k, v in tensors
             if isinstance(v, torch.Tensor) and v.is_floating_point()]
    if not named:
        return None
    where = named[0][1].device
    sums = torch.stack([v.sum().float().to(where) for _, v in named])
    for (key, v), ok in zip(named, torch.isfinite(sums).tolist()):
        if ok or bool(torch.isfinite(v).all()):
            continue
        name = f"{what} {key}" if what else key
        return f"{name} holds {'NaN' if bool(torch.isnan(v).any()) else 'infinite values'}"
    return None


def _distinct(v: torch.Tensor) -> torch.Tensor:
    """The values of v without the repeats of its stride-0 dimensions (an expand())."""
    if 0 not in v.stride() or v.numel() <= 1:
        return v
    return v[tuple(0 if st == 0 and n > 1 else slice(None) for st, n in zip(v.stride(), v.shape))]


def optimizer_tensors(state: Any) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) of an optimizer state_dict's per-parameter state, for the checks."""
    per_param = state.get("state", {}) if isinstance(state, dict) else {}
    return [(f"'optimizer' state of parameter {i} ({k})", v)
            for i, entry in per_param.items() if isinstance(entry, dict)
            for k, v in entry.items() if isinstance(v, torch.Tensor)]


def optimizer_fits(opt: torch.optim.Optimizer, path) -> None:
    """After load_state_dict: every state tensor has its parameter's shape (torch checks
    only the counts; a wrong shape would fail inside the first step)."""
    k = 0
    for group in opt.param_groups:
        for p in group["params"]:
            for name, v in opt.state.get(p, {}).items():
                if isinstance(v, torch.Tensor) and v.dim() and tuple(v.shape) != tuple(p.shape):
                    raise WeightsError(
                        f"{path}: refused: 'optimizer' state of parameter {k} ({name}) is "
                        f"{_dims(v.shape)}, but the parameter is {_dims(p.shape)}")
            k += 1


def infer_arch(sd: dict) -> tuple[str, int]:
    """Arch and class count (background included) from a state_dict's keys and shapes."""
    if MASK_KEY not in sd:
        raise Bad("not a Mask R-CNN state_dict (it has no mask predictor weights); MaskLoop "
                  f"needs {ARCH_V1} or _v2 weights")
    cls = sd.get(CLS_KEY)
    if cls is None:
        raise Bad("the state_dict has no box classifier weights")
    if "roi_heads.box_head.fc6.weight" in sd:
        arch = ARCH_V1
    elif "roi_heads.box_head.0.0.weight" in sd:
        arch = ARCH_V2
    else:
        raise Bad(f"unknown Mask R-CNN box head; expected {ARCHS[0]} or {ARCHS[1]}")
    if cls.dim() != 2 or not 1 <= cls.shape[0] <= MAX_CLASSES + 1:
        raise Bad(f"tensor {CLS_KEY} is {_dims(cls.shape)}: a model of 1 to {MAX_CLASSES} "
                  "classes (and background) is expected")
    return arch, int(cls.shape[0])


# ----------------------------------------------------------------------- the fields

def _checkpoint(obj: dict, resume: bool) -> Checked:
    missing = [f for f in RESUME_FIELDS if f not in obj] if resume else []
    if missing:
        raise Bad(f"not a resume state MaskLoop can continue from (no '{missing[0]}' field)")
    fmt = obj.get("format", FORMAT)  # older checkpoints have none
    if not (isinstance(fmt, str) and fmt == FORMAT):
        raise Bad(f"'format' is {_show(fmt)}; this MaskLoop reads {FORMAT!r}")
    problem = size_problem(obj.get("min_size"), obj.get("max_size"))
    if problem:
        raise Bad(problem)
    for key in ("model_id", "started_from"):
        _text(obj.get(key), f"'{key}'", optional=True)
    for key, allowed in (("arch", ARCHS), ("norm", NORMS)):
        if key in obj and not (isinstance(obj[key], str) and obj[key] in allowed):
            raise Bad(f"'{key}' is {_show(obj[key])}, not one of {', '.join(allowed)}")
    if "num_classes" in obj:
        _whole(obj["num_classes"], "'num_classes'", 1, MAX_CLASSES + 1)
    sd = _tensors(obj.get("model"), "'model'")
    arch, n = infer_arch(sd)
    norm = infer_norm(sd)
    for key, found in (("arch", arch), ("num_classes", n), ("norm", norm)):
        if key in obj and obj[key] != found:
            raise Bad(f"'{key}' says {obj[key]!r} but its weights are {found!r}")
    cats = _categories(obj["categories"], n) if "categories" in obj else None
    if obj.get("anchor_sizes") is not None:
        _anchors(obj["anchor_sizes"])
    _history(obj.get("history", []))
    for key in ("train_config", "data"):
        if key in obj and not isinstance(obj[key], dict):
            raise Bad(f"'{key}' is {_show(obj[key])}, not a dict")
    for key in ("epoch", "iteration"):
        if key in obj:
            _whole(obj[key], f"'{key}'", 0, MAX_ITERATIONS)
    _ap(obj.get("best_segm_ap"), "'best_segm_ap'")
    _resume_fields(obj)
    _shapes(sd, arch, n, norm)
    skeleton = _skeleton(arch, n, norm)
    if len(obj.get("optimizer", {}).get("state", {})) > len(skeleton):
        raise Bad(f"'optimizer' has state for more parameters than {arch} has")
    opt = optimizer_tensors(obj.get("optimizer"))
    largest = max(math.prod(s) for s, _ in skeleton.values())
    for name, v in opt:  # exact shapes need the run's parameters: optimizer_fits
        if not v.is_floating_point():
            raise Bad(f"{name} is {v.dtype}, not floating-point")
        if v.numel() > largest:
            raise Bad(f"{name} is {_dims(v.shape)}, larger than any parameter of {arch}")
    _finite(sd.items(), "tensor")
    _finite(opt, "")
    anchors = obj.get("anchor_sizes")
    return Checked(arch, n, norm, sd, cats, tuple(anchors) if anchors is not None else None)


def _tensors(sd: Any, what: str) -> dict:
    """A state_dict's keys are text and its values plain CPU tensors; DDP's "module."
    prefix is stripped."""
    if not isinstance(sd, dict) or not sd:
        raise Bad(f"{what} is {_show(sd)}, not a dict of tensors")
    for k, v in sd.items():
        if not isinstance(k, str):
            raise Bad(f"{what} has a key {_show(k)}; keys are tensor names")
        if not isinstance(v, torch.Tensor):
            raise Bad(f"{what} entry {_show(k, 200)} is {_show(v)}, not a tensor")
        if v.layout != torch.strided or v.is_quantized or v.device.type != "cpu":
            raise Bad(f"tensor {k} is a {v.layout} {v.dtype} tensor on {v.device}; "
                      "dense CPU tensors are expected")
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


@functools.lru_cache(maxsize=8)
def _skeleton(arch: str, num_classes: int, norm: str) -> dict[str, tuple[tuple[int, ...], bool]]:
    """Each tensor of the architecture: (shape, floating). Built on the meta device, so
    nothing is allocated (the meta device is thread-local: other threads build for real)."""
    from model.net.build import build_model
    with torch.device("meta"):
        model = build_model(arch, num_classes, norm=norm)
    return {k: (tuple(v.shape), v.is_floating_point()) for k, v in model.state_dict().items()}


def _shapes(sd: dict, arch: str, n: int, norm: str) -> None:
    """Every tensor the architecture has, at its shape, and no other (BatchNorm's step
    counters may be there or not: model.net.build.fit_state)."""
    want = _skeleton(arch, n, norm)
    what = f"{arch} with {n} classes (background included)"
    for k, v in sd.items():
        if k not in want:
            if k.endswith(BN_COUNTER) and v.numel() <= 1 and not v.is_floating_point():
                continue
            raise Bad(f"tensor {_show(k, 200)} is not part of {what}")
        shape, floating = want[k]
        if tuple(v.shape) != shape:
            raise Bad(f"tensor {k} is {_dims(v.shape)}, but {what} has {_dims(shape)}")
        if v.is_floating_point() != floating or v.is_complex() or v.dtype == torch.bool:
            raise Bad(f"tensor {k} is {v.dtype}, but {what} has "
                      f"{'floating-point' if floating else 'integer'} values there")
    absent = [k for k in want if k not in sd and not k.endswith(BN_COUNTER)]
    if absent:
        raise Bad(f"{len(absent)} tensor(s) of {what} are missing (first: {absent[0]})")


def _finite(tensors, what: str) -> None:
    problem = non_finite_problem(tensors, what)
    if problem:
        raise Bad(problem)


def _categories(raw: Any, num_classes: int) -> list[Category | None]:
    """The label table: {id, name[, supercategory]} in label order; an id of None is a
    label that never reports. Ids are whole, unique and below 2**53, as in a COCO file."""
    if not isinstance(raw, list):
        raise Bad(f"'categories' is {_show(raw)}, not a list of {{'id', 'name'}} entries")
    if len(raw) != num_classes - 1:
        raise Bad(f"'categories' lists {len(raw)} categories but its model has "
                  f"{num_classes - 1} classes")
    cats: list[Category | None] = [None]
    seen: set[int] = set()
    for k, c in enumerate(raw, start=1):
        where = f"category {k} in 'categories'"
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise Bad(f"{where} is {_show(c)}, not an {{'id', 'name'}} entry")
        if c["id"] is None:
            cats.append(None)
            continue
        if not is_id(c["id"]):
            raise Bad(f"{where} has id {_show(c['id'])}: ids are whole numbers between "
                      "-2**53 and 2**53")
        if c["id"] in seen:
            raise Bad(f"{where} repeats id {c['id']}: each category id names one class")
        seen.add(c["id"])
        _text(c["name"], f"{where}: 'name'")
        _text(c.get("supercategory"), f"{where}: 'supercategory'", optional=True)
        cats.append(Category(int(c["id"]), c["name"], c.get("supercategory")))
    return cats


ANCHOR_LEVELS = 5  # the FPN's levels (P2..P6) in both archs


def _anchors(sizes: Any) -> None:
    """The RPN's anchor size on each FPN level (model/training/anchors.py): whole pixels,
    growing from level to level."""
    if not isinstance(sizes, list) or len(sizes) != ANCHOR_LEVELS:
        raise Bad(f"'anchor_sizes' is {_show(sizes)}, not a list of {ANCHOR_LEVELS} sizes "
                  "(one per FPN level)")
    for k, v in enumerate(sizes):
        _whole(v, f"'anchor_sizes' entry {k + 1}", 1, MAX_ANCHOR)
    if any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise Bad(f"'anchor_sizes' {sizes} do not grow from level to level")


def _history(history: Any) -> None:
    """A list of per-epoch dicts; what is read back from them (validation AP) is checked."""
    if not isinstance(history, list):
        raise Bad(f"'history' is {_show(history)}, not a list")
    for k, entry in enumerate(history, start=1):
        if not isinstance(entry, dict):
            raise Bad(f"'history' entry {k} is {_show(entry)}, not a dict")
        val = entry.get("val", {})
        if not isinstance(val, dict) or not all(isinstance(m, dict) for m in val.values()):
            raise Bad(f"'history' entry {k}'s 'val' is not a dict of metrics")
        for kind, metrics in val.items():
            _ap(metrics.get("AP"), f"'history' entry {k}'s {kind} AP")


def _resume_fields(obj: dict) -> None:
    """What --resume restores: the optimizer, the schedule, the AMP scaler, the random
    states and the position inside the epoch."""
    if "optimizer" in obj:
        _optimizer(obj["optimizer"])
    if "scheduler" in obj:
        s = obj["scheduler"]
        if not isinstance(s, dict):
            raise Bad(f"'scheduler' is {_show(s)}, not a dict")
        _whole(s.get("last_epoch", 0), "'scheduler' last_epoch", -1, MAX_ITERATIONS)
        for key in ("base_lrs", "_last_lr"):
            lrs = s.get(key, [])
            if not isinstance(lrs, list):
                raise Bad(f"'scheduler' {key} is {_show(lrs)}, not a list")
            for v in lrs:
                _number(v, f"'scheduler' {key}", 0.0, 1e3)
    if "scaler" in obj:
        sc = obj["scaler"]
        if not isinstance(sc, dict):
            raise Bad(f"'scaler' is {_show(sc)}, not a dict")
        for key, v in sc.items():
            _number(v, f"'scaler' {key}", 0.0, 1e38)
    if obj.get("world") is not None:
        _whole(obj["world"], "'world'", 1, MAX_WORLD)
    if obj.get("rng") is not None:
        rngs = obj["rng"]
        if not isinstance(rngs, list) or len(rngs) > MAX_WORLD:
            raise Bad(f"'rng' is {_show(rngs)}, not a list of random states")
        for k, state in enumerate(rngs):
            _rng(state, f"'rng' entry {k}")
    if "epoch_progress" in obj:
        _progress(obj["epoch_progress"])


def _optimizer(opt: Any) -> None:
    if not isinstance(opt, dict) or not isinstance(opt.get("state"), dict) \
            or not isinstance(opt.get("param_groups"), list):
        raise Bad(f"'optimizer' is {_show(opt)}, not an optimizer state_dict")
    for i, entry in opt["state"].items():
        _whole(i, "'optimizer' state key", 0, 10 ** 7)
        if not isinstance(entry, dict) or len(entry) > 8:
            raise Bad(f"'optimizer' state of parameter {i} is {_show(entry)}, not a dict "
                      "of a few buffers")
        for key, v in entry.items():
            if not isinstance(v, torch.Tensor):
                _number(v, f"'optimizer' state of parameter {i} ({key})", -1e38, 1e38)
            elif v.layout != torch.strided or v.is_quantized or v.device.type != "cpu":
                raise Bad(f"'optimizer' state of parameter {i} ({key}) is not a dense CPU tensor")
    ranges = {"lr": (0.0, 1e3), "initial_lr": (0.0, 1e3), "momentum": (0.0, 1.0),
              "dampening": (0.0, 1.0), "weight_decay": (0.0, 1e3)}
    for g, group in enumerate(opt["param_groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("params"), list) \
                or not all(type(p) is int and p >= 0 for p in group["params"]):
            raise Bad(f"'optimizer' parameter group {g} is not a dict with a list of "
                      "parameter numbers")
        for key, (lo, hi) in ranges.items():
            if key in group:
                _number(group[key], f"'optimizer' parameter group {g} {key}", lo, hi)
        for key in ("nesterov", "maximize", "differentiable", "foreach", "fused"):
            if key in group and group[key] is not None and not isinstance(group[key], bool):
                raise Bad(f"'optimizer' parameter group {g} {key} is {_show(group[key])}")


def _rng(state: Any, where: str) -> None:
    """One process's generators (model/training/rng.py): byte tensors for torch's and the
    device's, 624 words and a position for numpy's and Python's Mersenne Twisters."""
    if not isinstance(state, dict) or not isinstance(state.get("numpy"), dict) \
            or not isinstance(state.get("python"), dict):
        raise Bad(f"{where} is {_show(state)}, not a random state")
    for key in ("torch", "cuda", "mps"):
        t = state.get(key)
        if key in state and not (isinstance(t, torch.Tensor) and t.dtype == torch.uint8
                                 and t.dim() == 1 and t.numel() <= 1 << 20):
            raise Bad(f"{where}'s {key} generator is {_show(t)}, not a byte tensor")
    if "torch" not in state:
        raise Bad(f"{where} has no torch generator")
    n, p = state["numpy"], state["python"]
    words = [("numpy", n.get("keys"), 624), ("python", p.get("state"), 625)]
    for name, t, size in words:
        if not (isinstance(t, torch.Tensor) and t.dtype == torch.int64 and tuple(t.shape) == (size,)
                and bool(((t >= 0) & (t < 2 ** 32)).all())):
            raise Bad(f"{where}'s {name} generator is not {size} words of 32 bits")
    if n.get("kind") != "MT19937":
        raise Bad(f"{where}'s numpy generator is {_show(n.get('kind'))}, not MT19937")
    _whole(n.get("pos"), f"{where}'s numpy position", 0, 624)
    _whole(n.get("has_gauss"), f"{where}'s numpy has_gauss", 0, 1)
    _number(n.get("cached_gaussian"), f"{where}'s numpy cached_gaussian", -1e38, 1e38)
    _whole(p.get("version"), f"{where}'s python version", 3, 3)
    if not int(p["state"][-1]) <= 624:
        raise Bad(f"{where}'s python position is past 624")
    if p.get("gauss_next") is not None:
        _number(p["gauss_next"], f"{where}'s python gauss_next", -1e38, 1e38)


def _progress(progress: Any) -> None:
    if not isinstance(progress, dict):
        raise Bad(f"'epoch_progress' is {_show(progress)}, not a dict")
    _whole(progress.get("position", 0), "'epoch_progress' position", 0, MAX_ITERATIONS)
    seen = progress.get("seen", [])
    if not isinstance(seen, list) or not all(
            isinstance(part, list) and all(is_id(i) for i in part) for part in seen):
        raise Bad("'epoch_progress' seen is not a list of lists of image ids")
    losses = progress.get("losses", {})
    if not isinstance(losses, dict) or not all(isinstance(v, list) for v in losses.values()):
        raise Bad("'epoch_progress' losses is not a dict of lists")
    for name, values in losses.items():
        _text(name, "'epoch_progress' loss name")
        for v in values:
            _number(v, f"'epoch_progress' loss {name}", -1e38, 1e38)


# ------------------------------------------------------------------------ the atoms

def _whole(v: Any, name: str, lo: int, hi: int) -> None:
    if not (type(v) is int and lo <= v <= hi):
        raise Bad(f"{name} is {_show(v)}: a whole number from {lo} to {hi} is expected")


def _number(v: Any, name: str, lo: float, hi: float) -> None:
    real = isinstance(v, (int, float)) and not isinstance(v, bool)  # numpy's float64 too
    if not (real and (isinstance(v, int) or math.isfinite(v)) and lo <= v <= hi):
        raise Bad(f"{name} is {_show(v)}: a finite number from {lo:g} to {hi:g} is expected")


def _ap(v: Any, name: str) -> None:
    if v is not None:
        _number(v, name, -1.0, 1.0)  # COCOeval says -1 where a class has no truth


def _text(v: Any, name: str, optional: bool = False) -> None:
    if optional and v is None:
        return
    if not isinstance(v, str):  # any length: a COCO file's category names have none
        raise Bad(f"{name} is {_show(v)}, not text")


def _dims(shape) -> str:
    return "x".join(map(str, shape)) or "a scalar"


def _show(v: Any, limit: int = 60) -> str:
    """A value for a message, never a tensor's contents or a 5,000-digit number."""
    if isinstance(v, torch.Tensor):
        return f"a tensor ({_dims(v.shape)} {str(v.dtype).replace('torch.', '')})"
    if type(v) is int and v.bit_length() > 128:
        return f"an integer of {v.bit_length()} bits"
    if v is None or type(v) in (bool, int, float, str):
        text = repr(v)
        return text if len(text) <= limit else text[:limit] + "...'"
    return f"a {type(v).__name__}"
