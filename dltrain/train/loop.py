"""The train and eval steps: autocast, GradScaler, gradient accumulation, clipping, no_sync.

Nothing here waits for the device inside the loop: metric sums stay on the device, and the
runner's ``after_step`` decides when to read a loss, log, checkpoint or stop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from dltrain.components.optimizers import needs_closure
from dltrain.train.metrics import SplitMetrics, metrics_for
from dltrain.train.precision import Precision


@dataclass
class StepConfig:
    grad_accum: int = 1
    grad_clip: float | None = None
    channels_last: bool = False
    skip_nonfinite: bool = False  # trainer.on_nan=skip: drop steps whose gradients are not finite


@dataclass
class Progress:
    """Counters that a checkpoint saves and a resumed run restores."""

    epoch: int = 1  # the epoch in progress (1-based)
    batch: int = 0  # batches of this epoch already trained (this rank)
    step: int = 0  # optimizer steps taken
    samples: int = 0  # training samples seen by this rank
    skipped: int = 0  # optimizer steps skipped for non-finite gradients (on_nan=skip)


def train_one_epoch(
    model: nn.Module,
    batches: Iterable,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    precision: Precision,
    device: torch.device,
    settings: StepConfig,
    progress: Progress,
    metrics: SplitMetrics,
    after_step: Callable[[torch.Tensor], bool],
) -> None:
    """Train until the batches run out or ``after_step`` (called after each optimizer step,
    with the last batch's loss) returns True. ``batches`` starts at ``progress.batch``."""
    model.train()
    total = progress.batch + len(batches)
    optimizer.zero_grad(set_to_none=True)
    for inputs, targets in batches:
        index = progress.batch
        inputs = to_device(inputs, device, settings.channels_last)
        targets = targets.to(device, non_blocking=True)
        group_start = index - index % settings.grad_accum
        group_size = min(settings.grad_accum, total - group_start)
        steps_now = index + 1 == group_start + group_size
        # DDP all-reduces gradients in backward; skip that for batches that only accumulate.
        sync = (
            contextlib.nullcontext()
            if steps_now or not hasattr(model, "no_sync")
            else (model.no_sync())
        )
        with sync:
            with precision.autocast():
                outputs = model(inputs)
            loss = loss_fn(outputs.float(), targets)
            precision.scaler.scale(loss / group_size).backward()
        if not settings.skip_nonfinite or bool(torch.isfinite(loss)):
            metrics.update(loss, outputs, targets)
        progress.batch += 1
        progress.samples += targets.shape[0]
        if not steps_now:
            continue
        if settings.grad_clip is not None:
            precision.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        if settings.skip_nonfinite and not precision.scaler.is_enabled() and not _finite(model):
            progress.skipped += 1  # under DDP the reduced gradients agree on every rank
        elif needs_closure(optimizer):  # LBFGS: re-evaluates the loss itself
            optimizer.step(closure(model, loss_fn, optimizer, precision, inputs, targets))
        else:
            precision.scaler.step(optimizer)  # skips the step itself on fp16 overflow
            precision.scaler.update()
        optimizer.zero_grad(set_to_none=True)
        progress.step += 1
        if after_step(loss):
            return


def to_device(inputs: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Move a batch (pinned memory makes this asynchronous on CUDA), NHWC for channels_last."""
    if channels_last and inputs.dim() == 4:
        return inputs.to(device, non_blocking=True, memory_format=torch.channels_last)
    return inputs.to(device, non_blocking=True)


def _finite(model: nn.Module) -> bool:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True


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
    task: str,
    channels_last: bool = False,
) -> dict[str, float]:
    """Metrics over the whole split; under DDP each rank sees a shard and the sums are reduced."""
    model.eval()
    metrics = metrics_for(task, device)
    for inputs, targets in batches:
        inputs = to_device(inputs, device, channels_last)
        targets = targets.to(device, non_blocking=True)
        with precision.autocast():
            outputs = model(inputs)
        metrics.update(loss_fn(outputs.float(), targets), outputs, targets)
    metrics.all_reduce()
    return metrics.compute()
