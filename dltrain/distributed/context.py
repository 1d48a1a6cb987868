"""Process groups from torchrun's environment, and the rank helpers the runner needs.

A run is distributed when torchrun started it (RANK/WORLD_SIZE/LOCAL_RANK in the environment).
Rank 0 alone writes files; every collective here is called by all ranks in the same order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from dltrain.distributed import NODE_RANK_ENV, liveness, under_torchrun

_NODE_ORDER = "dltrain/node-order/"  # + torchrun's rank: "node_rank local_rank"


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1 or dist.is_initialized()

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env() -> DistContext:
    if not under_torchrun():
        return DistContext()
    return DistContext(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", 1)),
    )


def resolve_backend(name: str, device_type: str) -> str:
    if name == "auto":
        return "nccl" if device_type == "cuda" else "gloo"
    return name


def init_process_group(backend: str, device_type: str, timeout_s: float) -> DistContext:
    """Join the group torchrun set up; on CUDA pin this process to its LOCAL_RANK GPU.

    ``timeout_s`` (distributed.timeout) bounds every collective: how long a rank waits for a
    rank that does not arrive. This rank's heartbeat starts too (liveness.py), so the error
    names the rank that hung.
    """
    ctx = context_from_env()
    if device_type == "cuda":
        torch.cuda.set_device(ctx.local_rank)
    if dist.is_initialized():  # joined already (external.py): the group's numbering
        return replace(ctx, rank=dist.get_rank())
    timeout = timedelta(seconds=timeout_s)
    store = _restart_store(ctx, timeout)
    ctx = _in_node_order(ctx, store, timeout)
    dist.init_process_group(
        backend=resolve_backend(backend, device_type),
        store=store,
        rank=ctx.rank,
        world_size=ctx.world_size,
        timeout=timeout,
    )
    liveness.start(store, ctx.rank, ctx.world_size, timeout_s)
    return ctx


def _in_node_order(ctx: DistContext, store: dist.Store, timeout: timedelta) -> DistContext:
    """Under dltrain's own multi-node launch, ranks in ``distributed.node_rank`` order.

    torchrun's c10d rendezvous numbers the nodes by host name and launcher pid, not by
    ``--node-rank``, so global rank 0 (the one that writes the run folder) could land on a
    node whose ``dltrain`` does not hold the folder, when the nodes share no filesystem. Each
    worker posts (node rank, local rank) in the store; its rank is its place in that order.
    """
    node_rank = os.environ.get(NODE_RANK_ENV)
    if node_rank is None:
        return ctx
    store.set(f"{_NODE_ORDER}{ctx.rank}", f"{int(node_rank)} {ctx.local_rank}")
    keys = [f"{_NODE_ORDER}{rank}" for rank in range(ctx.world_size)]
    store.wait(keys, timeout)
    places = [tuple(int(n) for n in store.get(key).decode().split()) for key in keys]
    order = sorted(range(ctx.world_size), key=lambda rank: (places[rank], rank))
    return replace(ctx, rank=order.index(ctx.rank))


def _restart_store(ctx: DistContext, timeout: timedelta) -> dist.Store:
    """The rendezvous store, with a key prefix per torchrun restart.

    After a restart (--max-restarts) the workers share the launcher's store with the round
    before; without a fresh prefix a new rank can read a dead rank's address and fail to
    connect (seen with gloo here).
    """
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        ctx.world_size,
        is_master=ctx.rank == 0 and not agent_store,
        timeout=timeout,
    )
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"dltrain/restart{restart}", store)


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def broadcast_object(value: Any, ctx: DistContext) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not ctx.enabled:
        return value
    holder = [value if ctx.is_main else None]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def any_rank(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True on every rank when ``flag`` is True on at least one."""
    if not ctx.enabled:
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value)
    return bool(value.item())


def shutdown() -> None:
    """Leave the process group before exit; left to interpreter teardown, gloo can abort."""
    liveness.stop()
    if dist.is_initialized():
        dist.destroy_process_group()


def cpu_threads(ctx: DistContext, configured: int | None) -> int:
    """Threads per process on CPU: the configured number, else the cores split between ranks.

    torchrun only sets OMP_NUM_THREADS=1 when it starts several processes; with one process per
    launcher (one per node) two threads per process would fight over the same cores.
    """
    if configured:
        return configured
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, ctx.local_world_size))
