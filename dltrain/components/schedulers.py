"""Scheduler builders that need the run's length, a named lambda, or a list of schedulers.

torch's own classes are registered directly where their arguments are plain values (step,
multistep, constant, linear, exponential, cosine_warm_restarts, plateau). ``total_steps`` is
the number of scheduler steps in the run (optimizer steps for ``interval=step``, epochs for
``interval=epoch``); build_scheduler fills it in. A ``max_lr`` of null means each parameter
group's own learning rate, so per-group rates (``optimizer.param_groups``) keep their ratios.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import (
    ChainedScheduler,
    CosineAnnealingLR,
    CyclicLR,
    LambdaLR,
    LRScheduler,
    MultiplicativeLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
)

from dltrain.errors import UserError
from dltrain.registry import SCHEDULERS, Registry, did_you_mean

# Named learning-rate lambdas: a config picks one by name (never code) and sets its parameters.
# LR_FACTORS give the factor of the initial lr at step t (scheduler=lambda); LR_MULTIPLIERS the
# factor applied to the previous step's lr (scheduler=multiplicative). Add your own with
# ``@LR_FACTORS.register("name")`` in a module listed in imports=[...]; each entry takes the
# scheduler's keys (and total_steps) as keywords and returns ``t -> factor``.
LR_FACTORS = Registry("lr_factor", "LR_FACTORS")
LR_MULTIPLIERS = Registry("lr_multiplier", "LR_MULTIPLIERS")
Lambda = Callable[[int], float]


def named_lambda(registry: Registry, name: str, scheduler: str, **params: Any) -> Lambda:
    """The named lambda with its parameters; an unknown name lists the known ones."""
    if name not in registry:
        raise UserError(
            f"scheduler.lr_lambda={name} is not a named lambda of scheduler={scheduler}."
            f"{did_you_mean(name, registry.names())} Known: {', '.join(registry.names())}."
        )
    return registry.get(name)(**params)


@LR_FACTORS.register("constant")
@LR_MULTIPLIERS.register("constant")
def _constant(**_: Any) -> Lambda:
    return lambda t: 1.0


@LR_FACTORS.register("step_decay")
def _step_decay(step_size: int, gamma: float, **_: Any) -> Lambda:
    """The tutorials' adjust_learning_rate: lr * gamma ** (t // step_size)."""
    return lambda t: gamma ** (t // step_size)


@LR_MULTIPLIERS.register("step_decay")
def _step_decay_multiplier(step_size: int, gamma: float, **_: Any) -> Lambda:
    return lambda t: gamma if t % step_size == 0 else 1.0


@LR_FACTORS.register("exponential")
def _exponential(gamma: float, **_: Any) -> Lambda:
    return lambda t: gamma**t


@LR_MULTIPLIERS.register("exponential")
def _exponential_multiplier(gamma: float, **_: Any) -> Lambda:
    return lambda t: gamma


@LR_FACTORS.register("linear_decay")
def _linear_decay(total_steps: int, end_factor: float, **_: Any) -> Lambda:
    """From 1 to end_factor over the whole run."""
    total = max(1, total_steps)
    return lambda t: 1.0 - (1.0 - end_factor) * min(t, total) / total


@LR_FACTORS.register("warmup")
def _warmup(warmup_steps: int, **_: Any) -> Lambda:
    """Rises linearly to 1 over warmup_steps, then stays."""
    return lambda t: min(1.0, (t + 1) / (warmup_steps + 1))


@SCHEDULERS.register("none")
def no_scheduler(optimizer: torch.optim.Optimizer) -> None:
    """No scheduler: the optimizer's learning rate stays as configured."""
    return None


def group_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    """Each parameter group's starting learning rate."""
    return [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]


@SCHEDULERS.register("lambda")
def lambda_lr(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    lr_lambda: str = "step_decay",
    gamma: float = 0.1,
    step_size: int = 30,
    warmup_steps: int = 5,
    end_factor: float = 0.0,
) -> LRScheduler:
    """LambdaLR with a named factor function (LR_FACTORS) and its parameters."""
    factor = named_lambda(
        LR_FACTORS,
        lr_lambda,
        "lambda",
        total_steps=total_steps,
        gamma=gamma,
        step_size=step_size,
        warmup_steps=warmup_steps,
        end_factor=end_factor,
    )
    return LambdaLR(optimizer, factor)


@SCHEDULERS.register("multiplicative")
def multiplicative(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    lr_lambda: str = "exponential",
    gamma: float = 0.95,
    step_size: int = 30,
) -> LRScheduler:
    """MultiplicativeLR with a named per-step multiplier (LR_MULTIPLIERS)."""
    factor = named_lambda(
        LR_MULTIPLIERS,
        lr_lambda,
        "multiplicative",
        total_steps=total_steps,
        gamma=gamma,
        step_size=step_size,
    )
    return MultiplicativeLR(optimizer, factor)


@SCHEDULERS.register("cosine")
def cosine(optimizer: torch.optim.Optimizer, total_steps: int, eta_min: float = 0.0) -> LRScheduler:
    """Cosine annealing over the whole run (``total_steps`` is filled in by the runner)."""
    return CosineAnnealingLR(optimizer, T_max=max(1, total_steps), eta_min=eta_min)


@SCHEDULERS.register("polynomial")
def polynomial(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    total_iters: int | None = None,
    power: float = 1.0,
) -> LRScheduler:
    """Polynomial decay to 0 over ``total_iters`` steps (null: the whole run)."""
    return PolynomialLR(optimizer, total_iters=total_iters or max(1, total_steps), power=power)


@SCHEDULERS.register("warmup_cosine")
def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int = 500,
    start_factor: float = 0.01,
    eta_min: float = 0.0,
) -> LRScheduler:
    """Linear warmup from start_factor * lr to lr over warmup_steps, then cosine to eta_min
    over the rest of the run (SequentialLR of LinearLR and CosineAnnealingLR, in closed form)."""
    if warmup_steps < 0 or not 0.0 < start_factor <= 1.0:
        raise ValueError("warmup_steps must be >= 0 and start_factor in (0, 1]")
    cosine_steps = max(1, total_steps - warmup_steps)

    def factor_for(base_lr: float) -> Lambda:
        floor = eta_min / base_lr if base_lr else 0.0

        def factor(t: int) -> float:
            if t < warmup_steps:
                return start_factor + (1.0 - start_factor) * t / warmup_steps
            done = min(t - warmup_steps, cosine_steps) / cosine_steps
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * done))

        return factor

    return LambdaLR(optimizer, [factor_for(lr) for lr in group_lrs(optimizer)])


@SCHEDULERS.register("cyclic")
def cyclic(
    optimizer: torch.optim.Optimizer,
    base_lr: float = 1e-4,
    max_lr: float | None = None,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_mode: str = "cycle",
    cycle_momentum: bool = True,
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
) -> LRScheduler:
    """CyclicLR between base_lr and max_lr (null: each group's lr); mode triangular,
    triangular2 or exp_range. Momentum (or Adam's beta1) cycles the other way."""
    return CyclicLR(
        optimizer,
        base_lr=base_lr,
        max_lr=group_lrs(optimizer) if max_lr is None else max_lr,
        step_size_up=step_size_up,
        step_size_down=step_size_down,
        mode=mode,
        gamma=gamma,
        scale_mode=scale_mode,
        cycle_momentum=cycle_momentum,
        base_momentum=base_momentum,
        max_momentum=max_momentum,
    )


@SCHEDULERS.register("onecycle")
def onecycle(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    max_lr: float | None = None,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    cycle_momentum: bool = True,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> LRScheduler:
    """OneCycleLR over the whole run: up to max_lr (null: each group's lr) and down again."""
    return OneCycleLR(
        optimizer,
        max_lr=group_lrs(optimizer) if max_lr is None else max_lr,
        total_steps=max(1, total_steps),
        pct_start=pct_start,
        anneal_strategy=anneal_strategy,
        cycle_momentum=cycle_momentum,
        base_momentum=base_momentum,
        max_momentum=max_momentum,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        three_phase=three_phase,
    )


def build_part(
    optimizer: torch.optim.Optimizer, section: Mapping[str, Any], total_steps: int, index: int
) -> LRScheduler:
    """One scheduler of a sequential or chained list, from its own small config."""
    where = f"scheduler.schedulers[{index}]"
    if not isinstance(section, Mapping) or "name" not in section:
        raise UserError(f"{where} must be a config with a name, e.g. {{name: linear}}.")
    if "interval" in section or "monitor" in section:
        raise UserError(f"{where}: set interval on the outer scheduler; it applies to all.")
    part = SCHEDULERS.build(section, optimizer, where=where, total_steps=total_steps)
    if part is None or isinstance(part, ReduceLROnPlateau):
        raise UserError(
            f"{where}: '{section['name']}' cannot be part of a list (it has no step of its own)."
        )
    return part


@SCHEDULERS.register("sequential")
def sequential(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    schedulers: Sequence[Mapping[str, Any]] = (),
    milestones: Sequence[int] = (),
) -> LRScheduler:
    """SequentialLR: scheduler i runs from milestones[i-1] to milestones[i]. A part that spans
    the run (cosine, polynomial, ...) spans its own stretch."""
    if len(milestones) != len(schedulers) - 1:
        raise ValueError(
            f"sequential needs one milestone between each pair of schedulers: "
            f"{len(schedulers)} schedulers, {len(milestones)} milestones"
        )
    bounds = [0, *milestones, max(total_steps, milestones[-1] if milestones else 0)]
    parts = [
        build_part(optimizer, section, max(1, bounds[i + 1] - bounds[i]), i)
        for i, section in enumerate(schedulers)
    ]
    return SequentialLR(optimizer, parts, milestones=list(milestones))


@SCHEDULERS.register("chained")
def chained(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    schedulers: Sequence[Mapping[str, Any]] = (),
) -> LRScheduler:
    """ChainedScheduler: every scheduler steps each time; their factors multiply."""
    if not schedulers:
        raise ValueError("chained needs at least one scheduler in scheduler.schedulers")
    parts = [build_part(optimizer, s, total_steps, i) for i, s in enumerate(schedulers)]
    return ChainedScheduler(parts, optimizer)


# torch's own classes, registered as they are: their arguments are plain config values.
for _name, _scheduler in {
    "step": torch.optim.lr_scheduler.StepLR,
    "step_decay": torch.optim.lr_scheduler.StepLR,
    "multistep": torch.optim.lr_scheduler.MultiStepLR,
    "constant": torch.optim.lr_scheduler.ConstantLR,
    "linear": torch.optim.lr_scheduler.LinearLR,
    "exponential": torch.optim.lr_scheduler.ExponentialLR,
    "cosine_warm_restarts": torch.optim.lr_scheduler.CosineAnnealingWarmRestarts,
    "plateau": ReduceLROnPlateau,
}.items():
    SCHEDULERS.add(_name, _scheduler)


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
    scheduler = SCHEDULERS.build(
        section, optimizer, exclude=("name", "interval", "monitor"), total_steps=total_steps
    )
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
