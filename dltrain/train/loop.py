"""The train and eval steps: autocast, GradScaler, gradient accumulation, clipping, no_sync.

Where the loop waits for the device: by default nowhere. Metric sums stay on the device, the
step's loss is handed to the runner's ``after_step`` as a tensor, and the runner decides when
to read a loss, log, checkpoint or stop (it reads one every logging.every_n_steps; under DDP its
stop check is one small all_reduce per optimizer step). The exceptions are what a setting asks
for:

- ``trainer.on_nan=skip``: each batch reads ``torch.isfinite(loss)`` on the host (a non-finite
  loss must not enter the metric sums), and with fp32/bf16 each optimizer step reads whether
  every gradient is finite (``_finite``), to skip that step. Two syncs per step, the price of
  deciding on the host; the default ``stop`` never reads them in the loop.
- fp16: ``GradScaler.step`` reads its inf/nan check on the host to skip overflowing steps.
- LBFGS: ``optimizer.step(closure)`` compares losses on the host inside its iterations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dltrain.components.optimizers import needs_closure
from dltrain.data.augment.mixing import dominant_class
from dltrain.train.metrics import metrics_for
from dltrain.train.precision import Precision
from dltrain.train.state import TrainState


@dataclass
class StepConfig:
    grad_accum: int = 1
    grad_clip: float | None = None
    channels_last: bool = False
    skip_nonfinite: bool = False  # trainer.on_nan=skip: drop steps whose gradients are not finite
    soft_targets: bool = False  # mixup/cutmix: targets are class probabilities (B, C)


@dataclass
class StepParts:
    """What a training step uses. ``model`` is the one that trains: DDP- or compile-wrapped."""

    model: nn.Module
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    precision: Precision
    device: torch.device
    settings: StepConfig = field(default_factory=StepConfig)


def train_one_epoch(
    parts: StepParts,
    batches: Iterable,
    state: TrainState,
    after_step: Callable[[torch.Tensor], bool],
) -> None:
    """Train until the batches run out or ``after_step`` (called after each optimizer step,
    with the last batch's loss) returns True. ``batches`` starts at ``state.progress.batch``;
    the progress counters and train-metric sums of ``state`` advance as it goes."""
    model, settings, progress = parts.model, parts.settings, state.progress
    model.train()
    total = progress.batch + len(batches)
    parts.optimizer.zero_grad(set_to_none=True)
    for inputs, targets in batches:
        index = progress.batch
        inputs = to_device(inputs, parts.device, settings.channels_last)
        targets = targets.to(parts.device, non_blocking=True)
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
            with parts.precision.autocast():
                outputs = model(inputs)
            loss = parts.loss_fn(outputs.float(), targets)
            parts.precision.scaler.scale(loss / group_size).backward()
        if not settings.skip_nonfinite or bool(torch.isfinite(loss)):  # on_nan=skip: a sync
            # Only the loss sees mixed targets; metrics compare with their dominant class.
            hard = dominant_class(targets) if settings.soft_targets else targets
            state.train_metrics.update(loss, outputs, hard)
        progress.batch += 1
        progress.samples += targets.shape[0]
        if not steps_now:
            continue
        _optimizer_step(parts, state, inputs, targets)
        if after_step(loss):
            return


def _optimizer_step(
    parts: StepParts, state: TrainState, inputs: torch.Tensor, targets: torch.Tensor
) -> None:
    """Clip, step (or skip a non-finite step), clear the gradients, count the step."""
    model, optimizer, scaler = parts.model, parts.optimizer, parts.precision.scaler
    settings = parts.settings
    if settings.grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
    if settings.skip_nonfinite and not scaler.is_enabled() and not _finite(model):
        state.progress.skipped += 1  # under DDP the reduced gradients agree on every rank
    elif needs_closure(optimizer):  # LBFGS: re-evaluates the loss itself
        optimizer.step(closure(model, parts.loss_fn, optimizer, parts.precision, inputs, targets))
    else:
        scaler.step(optimizer)  # skips the step itself on fp16 overflow
        scaler.update()
    optimizer.zero_grad(set_to_none=True)
    state.progress.step += 1


def to_device(inputs: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Move a batch (pinned memory makes this asynchronous on CUDA), NHWC for channels_last."""
    if channels_last and inputs.dim() == 4:
        return inputs.to(device, non_blocking=True, memory_format=torch.channels_last)
    return inputs.to(device, non_blocking=True)


def _finite(model: nn.Module) -> bool:
    """Whether every gradient is finite: read on the host, so a sync (on_nan=skip only)."""
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
    extra: Sequence[str] = (),
    matrices: bool = False,
) -> dict[str, Any]:
    """Metrics over the whole split; under DDP each rank sees a shard and the sums are reduced.

    ``extra``: the names of ``metrics=[...]``; ``matrices``: their matrices too (under their
    names, e.g. ``confusion_matrix``: a list of rows), for results.json."""
    model.eval()
    metrics = metrics_for(task, device, extra, matrices)
    for inputs, targets in batches:
        inputs = to_device(inputs, device, channels_last)
        targets = targets.to(device, non_blocking=True)
        with precision.autocast():
            outputs = model(inputs)
        metrics.update(loss_fn(outputs.float(), targets), outputs, targets)
    metrics.all_reduce()
    return {**metrics.compute(), **metrics.matrices()}
