"""Which device a process trains on: ``device=auto|cpu|cuda|cuda:N``, one GPU per local rank."""

from __future__ import annotations

import torch

from dltrain.distributed.context import DistContext
from dltrain.errors import UserError


def resolve_device(name: str, ctx: DistContext = DistContext()) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name} but no CUDA GPU is available here. Use device=cpu or auto.")
    if name == "cuda" and ctx.enabled:
        return torch.device("cuda", ctx.local_rank)
    return torch.device(name)
