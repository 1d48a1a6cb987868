"""Metrics summed on the device over a whole split, read back once at the end.

Loss is weighted by the number of samples in each batch and accuracy is correct / total, so the
last, smaller batch counts exactly as much as it should (not an average of per-batch means).
"""

from __future__ import annotations

import torch


class ClassificationMetrics:
    """Sample-weighted loss and top-1 accuracy."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.count = torch.zeros((), dtype=torch.int64, device=device)
        self.nonfinite = torch.zeros((), dtype=torch.bool, device=device)

    def update(self, loss: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        size = targets.shape[0]
        loss = loss.detach()
        self.nonfinite |= ~torch.isfinite(loss)
        self.loss_sum += loss.double() * size
        self.correct += (outputs.detach().argmax(dim=1) == targets).sum()
        self.count += size

    def compute(self) -> dict[str, float]:
        loss_sum, correct, count = torch.stack(
            [self.loss_sum, self.correct.double(), self.count.double()]
        ).tolist()
        count = max(count, 1.0)
        return {"loss": loss_sum / count, "accuracy": correct / count}

    def has_nonfinite(self) -> bool:
        return bool(self.nonfinite)


def metrics_for(task: str, device: torch.device) -> ClassificationMetrics:
    if task == "classification":
        return ClassificationMetrics(device)
    raise ValueError(f"no metrics for task '{task}'")
