"""Multi-process training under `torchrun`: NCCL on GPUs, gloo on CPU; a no-op in a single process."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


SINGLE = World()


def setup(device: str) -> World:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    world = World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if device.startswith("cuda"):
        torch.cuda.set_device(world.local_rank)
    return world


def teardown(finished: bool = True) -> None:
    """Leave the process group. After a clean finish, only once every rank is done: a rank that leaves while
    a peer still talks to it can abort that peer (gloo: "terminate called without an active exception",
    seen once in CI at the end of a two-process run). After a failure, at once, since a peer may be gone."""
    if dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def gather(obj, world: World) -> list:
    """Every rank's `obj`, in rank order (a list of one in a single process)."""
    if not world.distributed:
        return [obj]
    out = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


class EpochSampler(torch.utils.data.Sampler):
    """A seeded order per epoch, sharded across ranks by striding (rank r takes positions r, r + W, ...).

    With W ranks of batch b each, step k of the W ranks together covers exactly the positions that step
    k of a single process with batch W*b covers, so DDP's averaged gradient is the single-process one.
    The last positions repeat the first ones to give every rank the same length, as DistributedSampler.
    """

    def __init__(self, size: int, *, seed: int = 0, shuffle: bool = True, world: World = SINGLE):
        self.size, self.seed, self.shuffle, self.world, self.epoch = size, seed, shuffle, world, 0
        self.per_rank = -(-size // world.size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        padded = order + order[: self.per_rank * self.world.size - self.size]
        return padded[self.world.rank:: self.world.size]

    def __iter__(self):
        return iter(self.order())

    def __len__(self) -> int:
        return self.per_rank
