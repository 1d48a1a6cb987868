"""Metrics summed on the device over a whole split, read back once at the end.

Every metric keeps its running sums in one float64 tensor, so a split's metrics cost one
device-to-host copy, and under DDP one all_reduce makes every rank's sums the global sums. Loss
is weighted by the number of samples in each batch and accuracy is correct / total, so the last,
smaller batch counts exactly as much as it should (not an average of per-batch means).
"""

from __future__ import annotations

import torch


class SplitMetrics:
    """Base: subclasses name their sums and turn them into metrics in ``compute``."""

    fields: tuple[str, ...] = ("loss_sum", "count")

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(len(self.fields), dtype=torch.float64, device=device)
        self.nonfinite = torch.zeros((), dtype=torch.bool, device=device)

    def add(self, *values: torch.Tensor | float) -> None:
        """Add one batch's contribution to each field, in ``fields`` order, without a sync."""
        self.sums += torch.stack(
            [torch.as_tensor(v, dtype=torch.float64, device=self.sums.device) for v in values]
        )

    def add_loss(self, loss: torch.Tensor) -> torch.Tensor:
        loss = loss.detach()
        self.nonfinite |= ~torch.isfinite(loss)
        return loss.double()

    def all_reduce(self) -> None:
        """Sum every rank's sums (call on all ranks before ``compute``)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.sums)
            flag = self.nonfinite.to(torch.int32)
            dist.all_reduce(flag)
            self.nonfinite = flag > 0

    def totals(self) -> dict[str, float]:
        return dict(zip(self.fields, self.sums.tolist(), strict=True))

    def has_nonfinite(self) -> bool:
        return bool(self.nonfinite)

    def update(self, loss: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        raise NotImplementedError


class ClassificationMetrics(SplitMetrics):
    """Sample-weighted loss and top-1 accuracy."""

    fields = ("loss_sum", "correct", "count")

    def update(self, loss: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        size = targets.shape[0]
        correct = (outputs.detach().argmax(dim=1) == targets).sum()
        self.add(self.add_loss(loss) * size, correct, size)

    def compute(self) -> dict[str, float]:
        t = self.totals()
        count = max(t["count"], 1.0)
        return {"loss": t["loss_sum"] / count, "accuracy": t["correct"] / count}


METRICS: dict[str, type[SplitMetrics]] = {"classification": ClassificationMetrics}


def metrics_for(task: str, device: torch.device) -> SplitMetrics:
    if task not in METRICS:
        raise ValueError(f"no metrics for task '{task}'; known tasks: {', '.join(METRICS)}")
    return METRICS[task](device)
