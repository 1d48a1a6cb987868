"""Files of the run folder that only rank 0 can see, read there and sent to every rank.

Without a shared filesystem the run folder exists on rank 0's node only (the other nodes'
folders hold their config.yaml and nothing else), so the checkpoint a run resumes from and
the best.pt it tests are read by rank 0 and broadcast as their bytes over the process group;
every rank then loads those bytes as it would load the file (``torch.load`` with
``weights_only=True``: nothing is unpickled that a file read would not allow). With a shared
filesystem this costs one broadcast of the file per resume and per test of best.pt.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist

from dltrain.distributed.context import DistContext, broadcast_object


def rank0_is_file(path: Path, ctx: DistContext) -> bool:
    """Whether ``path`` is a file on rank 0's node (the same answer on every rank)."""
    return bool(broadcast_object(path.is_file() if ctx.is_main else None, ctx))


def read_from_rank0(path: Path, ctx: DistContext, device: torch.device) -> bytes | None:
    """``path``'s bytes as rank 0 reads them, on every rank; None when rank 0 has no such
    file (or cannot read it). Without DDP: the file read here."""
    if not ctx.enabled:
        return path.read_bytes() if path.is_file() else None
    data: bytes | None = None
    if ctx.is_main:
        try:
            data = path.read_bytes()
        except OSError:
            data = None
    # NCCL only moves device tensors; gloo the host's.
    where = device if dist.get_backend() == "nccl" else torch.device("cpu")
    size = torch.tensor([-1 if data is None else len(data)], dtype=torch.int64, device=where)
    dist.broadcast(size, src=0)
    if int(size.item()) <= 0:
        return None if int(size.item()) < 0 else b""
    if ctx.is_main:
        buffer = torch.frombuffer(bytearray(data or b""), dtype=torch.uint8).to(where)
    else:
        buffer = torch.empty(int(size.item()), dtype=torch.uint8, device=where)
    dist.broadcast(buffer, src=0)
    return data if ctx.is_main else buffer.cpu().numpy().tobytes()
