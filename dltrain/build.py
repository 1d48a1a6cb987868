"""Build each component from its config section through the registries."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.registry import DATA, LOSSES, MODELS, OPTIMIZERS, SCHEDULERS, Registry, did_you_mean

# Keys of a section that the runner reads itself; they are not builder arguments.
RUNNER_KEYS = {
    "data": {"name", "batch_size", "num_workers", "val_split", "shape", "num_classes", "drop_last"},
    "scheduler": {"name", "interval"},
}


def call_builder(registry: Registry, section: Mapping[str, Any], *args: Any, **extra: Any) -> Any:
    """Call the named builder with the section's keys, naming any key it does not accept."""
    name = section["name"]
    builder = registry.get(name)
    kwargs = {k: v for k, v in section.items() if k not in RUNNER_KEYS.get(registry.kind, {"name"})}
    params = inspect.signature(builder).parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kwargs.update({k: v for k, v in extra.items() if k in params or accepts_any})
    if not accepts_any:
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            options = [
                p for p in params if p not in ("self", "params", "optimizer") and p not in extra
            ]
            key = unknown[0]
            raise UserError(
                f"{registry.kind}.{key} is not an option of {registry.kind} '{name}'."
                f"{did_you_mean(key, options)} Its options: {', '.join(options)}."
            )
    try:
        return builder(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise UserError(f"cannot build {registry.kind} '{name}': {err}") from None


def build_data(section: Mapping[str, Any]) -> Any:
    return DATA.get(section["name"])(section)


def build_model(section: Mapping[str, Any]) -> nn.Module:
    return call_builder(MODELS, section)


def build_loss(section: Mapping[str, Any]) -> nn.Module:
    return call_builder(LOSSES, section)


def build_optimizer(section: Mapping[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    section = dict(section)
    if "betas" in section and section["betas"] is not None:
        section["betas"] = tuple(section["betas"])
    params = [p for p in model.parameters() if p.requires_grad]
    return call_builder(OPTIMIZERS, section, params)


def build_scheduler(
    section: Mapping[str, Any],
    optimizer: torch.optim.Optimizer,
    steps_per_epoch: int,
    max_epochs: int,
    max_steps: int,
) -> tuple[Any, str]:
    """The scheduler (or None) and its interval; ``total_steps`` counts that interval."""
    interval = section.get("interval", "epoch")
    if interval not in ("epoch", "step"):
        raise UserError(f"scheduler.interval must be epoch or step, got '{interval}'.")
    total_steps = steps_per_epoch * max_epochs
    if max_steps > 0:
        total_steps = min(total_steps, max_steps)
    if interval == "epoch":
        total_steps = math.ceil(total_steps / steps_per_epoch)
    scheduler = call_builder(SCHEDULERS, section, optimizer, total_steps=total_steps)
    return scheduler, interval
