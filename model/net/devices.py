"""Compute-device choice and torch's CPU thread budget."""
from __future__ import annotations

import os

import torch

from model.errors import DeviceError

_threads_configured = False


def configure_cpu_threads(reserve: int = 1) -> int:
    """Leave `reserve` cores free (for the UI); done once per process. OpenCV's own
    thread pool gets the same budget, or its resizes would take the UI's core. An
    explicit OMP_NUM_THREADS wins: torchrun sets it to share the cores among its ranks."""
    global _threads_configured
    n = max(1, (os.cpu_count() or 1) - reserve)
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        n = int(given)
    if not _threads_configured:
        torch.set_num_threads(n)
        import cv2
        cv2.setNumThreads(n)
        _threads_configured = True
    return torch.get_num_threads()


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """'auto' (cuda, then mps, then cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise DeviceError("device 'mps' requested, but Apple MPS is not available here; "
                              "use --device cpu")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{spec}' requested, but no CUDA GPU is available here "
                              "(torch.cuda.is_available() is False); use --device cpu or auto")
        index = 0
        if ":" in spec:
            try:
                index = int(spec.split(":", 1)[1])
            except ValueError:
                raise DeviceError(f"device '{spec}': the part after 'cuda:' must be a number") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise DeviceError(f"device '{spec}' requested, but only {count} CUDA device(s) exist "
                              f"(cuda:0 to cuda:{count - 1})")
        return torch.device("cuda", index)
    raise DeviceError(f"unknown device '{spec}'; use auto, cpu, cuda, cuda:N or mps")


def available_devices() -> list[tuple[str, str]]:
    """(spec, label) pairs for a device chooser."""
    out = [("auto", "Auto"), ("cpu", "CPU")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out.append((f"cuda:{i}", f"cuda:{i} ({torch.cuda.get_device_name(i)})"))
    if _mps_available():
        out.append(("mps", "Apple MPS"))
    return out
