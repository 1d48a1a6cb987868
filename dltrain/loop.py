"""The train and eval steps: autocast, GradScaler, gradient accumulation and clipping.

Nothing here syncs with the device inside the loop except at logging steps: metric sums stay on
the device and are read once per epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from dltrain.errors import RunError
from dltrain.metrics import metrics_for
from dltrain.optim import check_step_fits, needs_closure
from dltrain.precision import Precision


@dataclass
class StepConfig:
    grad_accum: int = 1
    grad_clip: float | None = None
    max_steps: int = -1
    log_every: int = 50


@dataclass
class Progress:
    """Counters that outlive one epoch."""

    step: int = 0  # optimizer steps taken
    samples: int = 0  # training samples seen

    def done(self, max_steps: int) -> bool:
        return max_steps > 0 and self.step >= max_steps


def train_one_epoch(
    model: nn.Module,
    batches: Iterable,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    precision: Precision,
    device: torch.device,
    settings: StepConfig,
    progress: Progress,
    step_scheduler: Callable[[], None] | None = None,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> dict[str, float]:
    model.train()
    check_step_fits(optimizer, settings.grad_accum, settings.grad_clip, precision.name)
    metrics = metrics_for(getattr(model, "task", "classification"), device)
    num_batches = len(batches)
    optimizer.zero_grad(set_to_none=True)
    window_start, window_samples = time.perf_counter(), 0
    for index, (inputs, targets) in enumerate(batches):
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with precision.autocast():
            outputs = model(inputs)
        loss = loss_fn(outputs.float(), targets)
        metrics.update(loss, outputs, targets)
        group_start = index - index % settings.grad_accum
        group_size = min(settings.grad_accum, num_batches - group_start)
        precision.scaler.scale(loss / group_size).backward()
        window_samples += targets.shape[0]
        progress.samples += targets.shape[0]
        if index + 1 < group_start + group_size:
            continue  # accumulate more gradients before stepping
        if settings.grad_clip is not None:
            precision.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        if needs_closure(optimizer):  # LBFGS: re-evaluates the loss itself
            optimizer.step(closure(model, loss_fn, optimizer, precision, inputs, targets))
        else:
            precision.scaler.step(optimizer)
        precision.scaler.update()
        optimizer.zero_grad(set_to_none=True)
        progress.step += 1
        if step_scheduler is not None:
            step_scheduler()
        if progress.step % settings.log_every == 0:
            if metrics.has_nonfinite():
                raise RunError(f"the training loss became NaN or infinite by step {progress.step}.")
            if on_log is not None:
                elapsed = time.perf_counter() - window_start
                on_log({"train/loss": loss.item(), "images_per_sec": window_samples / elapsed})
                window_start, window_samples = time.perf_counter(), 0
        if progress.done(settings.max_steps):
            break
    if metrics.has_nonfinite():
        raise RunError(f"the training loss became NaN or infinite by step {progress.step}.")
    return metrics.compute()


def closure(
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    precision: Precision,
    inputs: torch.Tensor,
    targets: torch.Tensor,
) -> Callable[[], torch.Tensor]:
    """The loss and gradients of this batch at the current weights, for ``optimizer.step``."""

    def evaluate_loss() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            outputs = model(inputs)
        loss = loss_fn(outputs.float(), targets)
        loss.backward()
        return loss.detach()

    return evaluate_loss


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    batches: Iterable,
    loss_fn: nn.Module,
    precision: Precision,
    device: torch.device,
) -> dict[str, float]:
    model.eval()
    metrics = metrics_for(getattr(model, "task", "classification"), device)
    for inputs, targets in batches:
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with precision.autocast():
            outputs = model(inputs)
        metrics.update(loss_fn(outputs.float(), targets), outputs, targets)
    return metrics.compute()
