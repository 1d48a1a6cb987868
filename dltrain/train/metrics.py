"""Metrics summed on the device over a whole split, read back once at the end.

Every metric keeps its running sums in one float64 tensor, so a split's metrics cost one
device-to-host copy, and under DDP one all_reduce makes every rank's sums the global sums. Loss
is weighted by the number of samples in each batch and accuracy is correct / total, so the last,
smaller batch counts exactly as much as it should (not an average of per-batch means). A split
that counted no sample (an epoch whose every batch ``trainer.on_nan=skip`` dropped) has no
metrics: each is NaN, never a 0.0 that looks like a perfect loss.

The metrics of ``metrics=[...]`` ride along as ``extras`` (dltrain/metrics/extras.py:
torchmetrics states, synced when computed); with none configured the split costs what it did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from dltrain.metrics.extras import ExtraMetrics


class SplitMetrics:
    """Base: subclasses name their sums and turn them into metrics in ``_from_sums``."""

    fields: tuple[str, ...] = ("loss_sum", "count")
    names: tuple[str, ...] = ("loss",)  # the metrics ``compute`` returns

    def __init__(self, device: torch.device, extras: ExtraMetrics | None = None) -> None:
        self.extras = extras
        self._sums = torch.zeros(len(self.fields), dtype=torch.float64, device=device)
        self._host = [0.0] * len(self.fields)  # Python numbers (batch sizes) stay on the host
        self._zero = torch.zeros((), dtype=torch.float64, device=device)
        self.nonfinite = torch.zeros((), dtype=torch.bool, device=device)

    @property
    def sums(self) -> torch.Tensor:
        """All sums on the device (folding in the host-side part: one small copy)."""
        if any(self._host):
            self._sums += torch.tensor(self._host, dtype=torch.float64).to(self._sums.device)
            self._host = [0.0] * len(self.fields)
        return self._sums

    def add(self, *values: torch.Tensor | float) -> None:
        """Add one batch's contribution to each field, in ``fields`` order, without a sync.

        Tensors are summed on the device; Python numbers on the host, so no host-to-device copy
        happens per batch.
        """
        on_device = []
        for index, value in enumerate(values):
            if isinstance(value, torch.Tensor):
                on_device.append(value.to(torch.float64))
            else:
                self._host[index] += value
                on_device.append(self._zero)
        self._sums += torch.stack(on_device)

    def add_loss(self, loss: torch.Tensor) -> torch.Tensor:
        loss = loss.detach()
        self.nonfinite |= ~torch.isfinite(loss)
        return loss.double()

    def all_reduce(self) -> None:
        """Sum every rank's sums (call on all ranks before ``compute``)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.sums)  # the property folds the host part in first
            flag = self.nonfinite.to(torch.int32)
            dist.all_reduce(flag)
            self.nonfinite = flag > 0

    def totals(self) -> dict[str, float]:
        return dict(zip(self.fields, self.sums.tolist(), strict=True))

    def has_nonfinite(self) -> bool:
        return bool(self.nonfinite)

    def update(self, loss: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add one batch to the task's sums and to the extra metrics."""
        self._update(loss, outputs, targets)
        if self.extras is not None:
            self.extras.update(outputs, targets)

    def _update(self, loss: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        """The split's metrics; NaN for every one when no sample was counted (all ranks call
        it: the extras sync when computed)."""
        if self.sums[self.fields.index("count")] == 0:
            return dict.fromkeys(self.names, math.nan)
        values = self._from_sums()
        if self.extras is not None:
            values.update(self.extras.compute(values))
        return values

    def matrices(self) -> dict[str, Any]:
        """The extras' matrices (confusion_matrix), for results.json."""
        if self.extras is None or self.sums[self.fields.index("count")] == 0:
            return {}
        return self.extras.matrices()

    def extras_state(self) -> dict[str, Any] | None:
        """This rank's extra-metric states for a checkpoint (None without extras)."""
        return None if self.extras is None else self.extras.state_dict()

    def _from_sums(self) -> dict[str, float]:
        raise NotImplementedError


class ClassificationMetrics(SplitMetrics):
    """Sample-weighted loss and top-1 accuracy."""

    fields = ("loss_sum", "correct", "count")
    names = ("loss", "accuracy")

    def _update(self, loss: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        size = targets.shape[0]
        correct = (outputs.detach().argmax(dim=1) == targets).sum()
        self.add(self.add_loss(loss) * size, correct, size)

    def _from_sums(self) -> dict[str, float]:
        t = self.totals()
        return {"loss": t["loss_sum"] / t["count"], "accuracy": t["correct"] / t["count"]}


MAX_SEG_CLASSES = 256  # per-class slots: every split, rank and resume has sums of one shape


class SegmentationMetrics(SplitMetrics):
    """Sample-weighted loss; Dice and IoU from pixel counts summed over the whole split.

    Binary (1-channel logits): a pixel is predicted foreground when its logit is above 0 and the
    target is a 0/1 mask. Multi-class (C channels): argmax over channels against class indices
    (N x H x W, N x 1 x H x W, or one-hot N x C x H x W); target values outside [0, C) are
    ignored. Per class k: dice = 2 I / (P + T), iou = I / (P + T - I) from the split's global
    intersection I, predicted P and target T pixel counts; the reported value is the mean over
    classes present in prediction or target (1.0 when none is: both empty agree).
    """

    fields = ("loss_sum", "count") + tuple(
        f"{kind}_{k}" for kind in ("intersection", "pred", "target") for k in range(MAX_SEG_CLASSES)
    )
    names = ("loss", "dice", "iou")

    def _update(self, loss: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        size = targets.shape[0]
        counts = pixel_counts(outputs.detach(), targets.detach())
        self.sums[:2] += torch.stack([self.add_loss(loss) * size, loss.new_tensor(size).double()])
        self.sums[2:].view(3, MAX_SEG_CLASSES)[:, : counts.shape[1]] += counts

    def _from_sums(self) -> dict[str, float]:
        loss_sum, count = self.sums[:2].tolist()
        inter, pred, target = self.sums[2:].view(3, MAX_SEG_CLASSES).cpu()
        present = (pred + target) > 0
        if not present.any():
            return {"loss": loss_sum / count, "dice": 1.0, "iou": 1.0}
        inter, pred, target = inter[present], pred[present], target[present]
        dice = (2 * inter / (pred + target)).mean().item()
        iou = (inter / (pred + target - inter)).mean().item()
        return {"loss": loss_sum / count, "dice": dice, "iou": iou}


def pixel_counts(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """3 x K float64 counts (intersection, predicted, target pixels) for K classes."""
    classes = outputs.shape[1]
    if classes == 1:
        pred = outputs > 0
        truth = (targets > 0.5).reshape(pred.shape)
        counts = [(pred & truth).sum(), pred.sum(), truth.sum()]
        return torch.stack(counts).double().view(3, 1)
    if classes > MAX_SEG_CLASSES:
        raise ValueError(f"segmentation metrics support up to {MAX_SEG_CLASSES} classes")
    if targets.ndim == outputs.ndim and targets.shape[1] == classes:
        targets = targets.argmax(dim=1)  # one-hot
    elif targets.ndim == outputs.ndim:
        targets = targets.squeeze(1)
    pred, targets = outputs.argmax(dim=1).flatten(), targets.long().flatten()
    keep = (targets >= 0) & (targets < classes)
    pred, targets = pred[keep], targets[keep]
    hits = torch.bincount(pred[pred == targets], minlength=classes)
    predicted = torch.bincount(pred, minlength=classes)
    return torch.stack([hits, predicted, torch.bincount(targets, minlength=classes)]).double()


class RegressionMetrics(SplitMetrics):
    """Sample-weighted loss; mse and mae over every predicted value of the split."""

    fields = ("loss_sum", "count", "squared_error", "absolute_error", "values")
    names = ("loss", "mse", "mae")

    def _update(self, loss: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        if outputs.numel() != targets.numel():
            raise ValueError(
                f"regression outputs {tuple(outputs.shape)} do not match targets "
                f"{tuple(targets.shape)}: the model's output width must be the target's"
            )
        error = outputs.detach().double().reshape(targets.shape) - targets.double()
        size = targets.shape[0]
        self.add(
            self.add_loss(loss) * size, size, error.square().sum(), error.abs().sum(), error.numel()
        )

    def _from_sums(self) -> dict[str, float]:
        t = self.totals()
        values = max(t["values"], 1.0)
        return {
            "loss": t["loss_sum"] / t["count"],
            "mse": t["squared_error"] / values,
            "mae": t["absolute_error"] / values,
        }


METRICS: dict[str, type[SplitMetrics]] = {
    "classification": ClassificationMetrics,
    "segmentation": SegmentationMetrics,
    "regression": RegressionMetrics,
}


# checkpoint.monitor=auto: what best.pt keeps, per task
def metrics_for(
    task: str, device: torch.device, extra: Sequence[str] = (), matrices: bool = False
) -> SplitMetrics:
    """Fresh metrics of a split: the task's sums, plus ``extra`` (names in ``metrics=[...]``;
    ``matrices``: also the matrix ones, such as confusion_matrix)."""
    if task not in METRICS:
        raise ValueError(f"no metrics for task '{task}'; known tasks: {', '.join(METRICS)}")
    extras = ExtraMetrics(extra, task, device, matrices) if extra else None
    return METRICS[task](device, extras)


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics a task logs per split (loss, accuracy, ...), read off what ``compute``
    returns, so a monitored name is checked against the metrics the run really writes."""
    return tuple(metrics_for(task, torch.device("cpu")).compute())
