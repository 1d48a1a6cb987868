"""distributed=fsdp: torch's FSDP2 (``fully_shard``) per block, then the root.

Each process keeps only its shard (dim 0) of every parameter, gradient and optimizer state; a
block's weights are all-gathered for its forward and backward and its gradients
reduce-scattered. torch's own FSDP2 rather than a wrapper library: it is the maintained
successor of FSDP1 (per-parameter DTensor shards, no flat parameters, so parameter names and
optimizer param groups stay the model's), it composes with activation checkpointing and
torch.distributed.checkpoint, and it runs on CPU with gloo.

- The units are the modules named by ``distributed.fsdp.wrap`` (class names; null: the model
  family's blocks, models/module_types.py), innermost first, then the root.
- ``precision=bf16``: FSDP's ``MixedPrecisionPolicy`` (bf16 parameters for compute, gradients
  reduced in float32); BatchNorm layers keep float32 parameters (their running statistics are
  float32 buffers). fp16 is refused in preflight (it would need a sharded GradScaler).
- ``distributed.fsdp.cpu_offload``: FSDP's ``CPUOffloadPolicy`` (CUDA runs only).
- Evaluation gathers every unit once (``gathered``): ranks may then run different numbers of
  batches (evaluation shards are not padded) without a collective inside the forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.distributed.fsdp import (
    CPUOffloadPolicy,
    FSDPModule,
    MixedPrecisionPolicy,
    OffloadPolicy,
    fully_shard,
)

from dltrain.config.schema import FsdpConfig
from dltrain.errors import UserError
from dltrain.models.module_types import default_blocks, modules_of_types

WRAP_KEY = "distributed.fsdp.wrap"
PARAM_DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def block_names(model: nn.Module, settings: FsdpConfig) -> list[str]:
    """The module types sharded one unit each: the configured ones, or the family's blocks."""
    return list(settings.wrap) if settings.wrap is not None else default_blocks(model)


def shard_model(model: nn.Module, settings: FsdpConfig, precision: str) -> list[str]:
    """Apply ``fully_shard`` to each block, innermost first, then to the root (in place);
    the module types that became units."""
    names = block_names(model, settings)
    blocks = modules_of_types(model, names, WRAP_KEY)
    offload = CPUOffloadPolicy() if settings.cpu_offload else OffloadPolicy()
    common = {"offload_policy": offload, "reshard_after_forward": settings.reshard_after_forward}
    param_dtype = PARAM_DTYPES[precision]
    if param_dtype is not None:
        float32 = MixedPrecisionPolicy(cast_forward_inputs=False)
        for norm in _batchnorms(model):
            fully_shard(norm, mp_policy=float32, **common)
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    for block in reversed(blocks):  # module order is outer first: shard the inner ones first
        fully_shard(block, mp_policy=policy, **common)
    fully_shard(model, mp_policy=policy, **common)
    return names


def _batchnorms(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def gathered(model: nn.Module, reshard_after_forward: bool = True) -> Iterator[None]:
    """Every FSDP unit's full weights, gathered once (all ranks), kept for the block; nothing
    for a model that is not sharded. ``reshard_after_forward``: the setting to go back to."""
    units = [m for m in model.modules() if isinstance(m, FSDPModule)]
    if not units:
        yield
        return
    for unit in units:
        unit.unshard()
        unit.set_reshard_after_forward(False, recurse=False)
    try:
        yield
    finally:
        for unit in units:
            unit.reshard()
        for unit in units:
            unit.set_reshard_after_forward(reshard_after_forward, recurse=False)


def check_fsdp(run: Any, model: nn.Module | None, device: torch.device) -> None:
    """Preflight for distributed=fsdp: precision, offload, callbacks, the wrap types."""
    settings: FsdpConfig = run.distributed.fsdp
    if run.precision.name not in PARAM_DTYPES:
        raise UserError(
            f"distributed=fsdp takes precision=fp32 or bf16, not {run.precision.name} (fp16 "
            "needs a sharded GradScaler). Use precision=bf16 (FSDP keeps bf16 parameters and "
            "reduces gradients in float32)."
        )
    if settings.cpu_offload and device.type != "cuda":
        raise UserError(
            "distributed.fsdp.cpu_offload=true moves the sharded weights off the GPU to host "
            f"memory, but this run trains on {device.type} where they are in host memory "
            "already. Set distributed.fsdp.cpu_offload=false, or run on GPUs."
        )
    averaged = sorted(
        key for key, section in run.callbacks.items() if section.get("name") in ("ema", "swa")
    )
    if averaged:
        raise UserError(
            f"callbacks={averaged} keep a full copy of the weights beside the sharded model, "
            "which distributed=fsdp does not offer. Drop them, or use distributed=ddp."
        )
    if model is not None and settings.wrap is not None:
        modules_of_types(model, settings.wrap, WRAP_KEY)
