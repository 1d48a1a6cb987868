"""Build each component from its config section through the registries."""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.registry import DATA, LOSSES, MODELS, SCHEDULERS, Registry, did_you_mean

# Keys of a section that the runner reads itself; they are not builder arguments.
RUNNER_KEYS = {
    "data": {"name", "batch_size", "num_workers", "val_split", "shape", "num_classes", "drop_last"},
    "scheduler": {"name", "interval", "monitor"},
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


def model_task(section: Mapping[str, Any]) -> str:
    """The task a model declares (``task`` class attribute): it decides targets and metrics."""
    return getattr(MODELS.get(section["name"]), "task", "classification")


def build_data(section: Mapping[str, Any], task: str = "classification") -> Any:
    """The data set's splits with targets for ``task``."""
    builder = DATA.get(section["name"])
    tasks = getattr(builder, "tasks", {"classification"})
    if task not in tasks:
        offers = ", ".join(sorted(tasks))
        raise UserError(
            f"data '{section['name']}' has no {task} targets (it offers {offers})."
            " Pick a model for that task or another data set."
        )
    return builder(section, task=task)


def build_model(section: Mapping[str, Any], load_weights: bool = True) -> nn.Module:
    """The model with its shared options applied (models/options.py).

    ``load_weights=False`` skips ``model.weights``: a checkpoint about to be loaded (resume,
    eval, predict) supplies the weights.
    """
    from dltrain.models.options import apply_shared, split_section

    own, shared = split_section(section, MODELS.get(section["name"]), load_weights)
    return apply_shared(call_builder(MODELS, own), shared)


def check_loss_fits(name: str, task: str) -> None:
    """A loss that declares ``tasks`` must fit the model's task; the error lists those that do."""
    builder = LOSSES.get(name)
    tasks = getattr(builder, "tasks", None)
    if tasks is not None and task not in tasks:
        fitting = [n for n in LOSSES.names() if task in getattr(LOSSES.get(n), "tasks", {task})]
        needs = getattr(builder, "needs", "")
        raise UserError(
            f"loss '{name}' does not fit a {task} model"
            f"{f' (it needs {needs})' if needs else ''}. Losses that do: {', '.join(fitting)}"
            " (or loss=auto, the task's default)."
        )


def build_loss(section: Mapping[str, Any], task: str = "classification") -> nn.Module:
    """The loss; one that declares ``tasks`` must fit the model's task."""
    check_loss_fits(section["name"], task)
    return call_builder(LOSSES, section)


def build_optimizer(
    section: Mapping[str, Any], model: nn.Module, **run: Any
) -> torch.optim.Optimizer:
    """See optim.build_optimizer (``run``: grad_accum, grad_clip, precision)."""
    from dltrain.components.optimizers import build_optimizer as build

    return build(section, model, **run)


class LRStepper:
    """Steps a scheduler at its interval: after each optimizer step, or at each epoch's end.

    A scheduler with a ``monitor`` (plateau) steps on that metric of the epoch's record, on the
    epochs where its split was evaluated (validation runs every trainer.val_every epochs).
    """

    def __init__(self, scheduler: Any, interval: str, monitor: str | None = None) -> None:
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor

    def after_optimizer_step(self) -> None:
        if self.scheduler is not None and self.interval == "step":
            self.scheduler.step()

    def after_epoch(self, record: Mapping[str, Any]) -> None:
        if self.scheduler is None or self.interval != "epoch":
            return
        if self.monitor is None:
            self.scheduler.step()
            return
        if self.monitor in record:
            self.scheduler.step(record[self.monitor])
            return
        split = self.monitor.split("/")[0] + "/"
        logged = sorted(k for k in record if "/" in k)
        if any(k.startswith(split) for k in logged) or not split.startswith("val/"):
            raise UserError(
                f"scheduler.monitor={self.monitor} is not a logged metric. Logged: "
                f"{', '.join(logged)}. Set scheduler.monitor to one of them."
            )

    def state_dict(self) -> dict[str, Any] | None:
        return self.scheduler.state_dict() if self.scheduler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scheduler is not None and state is not None:
            self.scheduler.load_state_dict(state)


def build_scheduler(
    section: Mapping[str, Any],
    optimizer: torch.optim.Optimizer,
    steps_per_epoch: int,
    max_epochs: int,
    max_steps: int,
) -> LRStepper:
    """The scheduler, stepped at ``scheduler.interval``; ``total_steps`` counts that interval."""
    interval = section.get("interval", "epoch")
    if interval not in ("epoch", "step"):
        raise UserError(f"scheduler.interval must be epoch or step, got '{interval}'.")
    total_steps = steps_per_epoch * max_epochs
    if max_steps > 0:
        total_steps = min(total_steps, max_steps)
    if interval == "epoch":
        total_steps = math.ceil(total_steps / steps_per_epoch)
    scheduler = call_builder(SCHEDULERS, section, optimizer, total_steps=total_steps)
    monitor = None
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        monitor = section.get("monitor") or "val/loss"
        if not re.match(r"^(train|val)/\w+$", monitor):
            raise UserError(
                f"scheduler.monitor must name a logged metric such as val/loss or val/accuracy, "
                f"got '{monitor}'."
            )
        if interval != "epoch":
            raise UserError(
                f"scheduler '{section['name']}' steps on {monitor}, which is measured once per "
                "epoch: set scheduler.interval=epoch."
            )
    return LRStepper(scheduler, interval, monitor)
