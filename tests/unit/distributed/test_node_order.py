"""Ranks in node order (context.py) and files read on rank 0 (rank0_files.py), in process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from dltrain.distributed import NODE_RANK_ENV
from dltrain.distributed.context import DistContext, _in_node_order
from dltrain.distributed.rank0_files import rank0_is_file, read_from_rank0


def test_ranks_follow_node_rank_not_torchrun_order(monkeypatch):
    """torchrun ranks 0-1 landed on node 1 and 2-3 on node 0 (its rendezvous sorts by host
    and pid): node 0's workers become ranks 0-1."""
    store = dist.HashStore()
    for torchrun_rank, (node, local) in enumerate([(1, 0), (1, 1), (0, 0), (0, 1)]):
        store.set(f"dltrain/node-order/{torchrun_rank}", f"{node} {local}")
    monkeypatch.setenv(NODE_RANK_ENV, "0")
    ctx = DistContext(rank=3, world_size=4, local_rank=1, local_world_size=2)
    assert _in_node_order(ctx, store, timedelta(seconds=5)).rank == 1
    monkeypatch.setenv(NODE_RANK_ENV, "1")
    ctx = DistContext(rank=0, world_size=4, local_rank=0, local_world_size=2)
    assert _in_node_order(ctx, store, timedelta(seconds=5)).rank == 2


def test_without_dltrains_launch_torchruns_ranks_stay(monkeypatch):
    monkeypatch.delenv(NODE_RANK_ENV, raising=False)
    ctx = DistContext(rank=3, world_size=4, local_rank=1, local_world_size=2)
    assert _in_node_order(ctx, dist.HashStore(), timedelta(seconds=1)) == ctx


def test_one_process_reads_the_file_itself(tmp_path: Path):
    path, ctx = tmp_path / "last.pt", DistContext()
    assert read_from_rank0(path, ctx, torch.device("cpu")) is None
    assert not rank0_is_file(path, ctx)
    path.write_bytes(b"abc")
    assert read_from_rank0(path, ctx, torch.device("cpu")) == b"abc"
    assert rank0_is_file(path, ctx)
