"""torchrun's environment as one small object, shared by `train` and `predict`."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from model.net.devices import resolve_device


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def on(self) -> bool:
        return self.world > 1

    def shard(self, items: list) -> list:
        """This rank's share, in DistributedSampler's order (shuffle off) without its
        padding: every item goes to exactly one rank."""
        return items[self.rank::self.world] if self.on else items

    def barrier(self) -> None:
        if self.on:
            dist.barrier()

    def close(self) -> None:
        if self.on and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device_spec: str) -> tuple[Dist, torch.device]:
    """torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; nccl on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), resolve_device(device_spec)
    d = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    wanted = resolve_device(device_spec)
    if wanted.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return d, device


def any_rank(d: Dist, flag: bool) -> bool:
    """True on every rank if it is true on any (so all ranks stop together)."""
    if not d.on:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_all(d: Dist, obj: object) -> list:
    """Every rank's obj, in rank order, on every rank (just [obj] without torchrun)."""
    if not d.on:
        return [obj]
    out: list = [None] * d.world
    dist.all_gather_object(out, obj)
    return out
