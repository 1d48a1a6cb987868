"""The metrics of ``metrics=[...]`` over one split: torchmetrics states beside the fast sums.

Built at a split's first batch, when the number of classes is the outputs' width (a binary
mask's one channel is two classes: background 0, foreground 1). Each torchmetrics Metric keeps
its own state on the training device and syncs it over the process group when computed, so
every rank reports the global value. ``state_dict`` is this rank's states on the host, which
the Checkpointer keeps per rank, so a run resumed mid-epoch continues each rank's share exactly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from dltrain.metrics.catalog import class_keys, metric_spec


class ExtraMetrics:
    """The extra metrics of one split; ``matrices`` keeps matrix metrics (results.json only)."""

    def __init__(
        self, names: Sequence[str], task: str, device: torch.device, matrices: bool = False
    ) -> None:
        specs = {name: metric_spec(name) for name in names}
        self.specs = {
            name: spec
            for name, spec in specs.items()
            if not spec.always_logged and (matrices or spec.shape != "matrix")
        }
        self.task, self.device = task, device
        self.classes: int | None = None
        self.metrics: dict[str, Any] = {}  # name -> torchmetrics Metric, once built
        self.batches = 0  # batches this rank added (restored with the states)

    def _build(self, classes: int) -> None:
        self.classes = classes
        for name, spec in self.specs.items():
            if spec.build is not None:
                metric = spec.build(classes)
                if spec.shape != "matrix":  # values in float64, as the fast sums (a matrix
                    metric.set_dtype(torch.float64)  # stays integer counts)
                metric = metric.to(self.device)
                metric.persistent(True)  # its states go into state_dict
                self.metrics[name] = metric

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add one batch (no host sync of its own on CPU; see the README for CUDA)."""
        if not self.specs:
            return
        outputs, targets = outputs.detach(), targets.detach()
        if self.classes is None:
            self._build(_classes(self.task, outputs))
        preds, labels = _inputs(self.task, outputs, targets)
        probabilities = None
        for name, metric in self.metrics.items():
            if self.specs[name].inputs == "probabilities":
                if probabilities is None:
                    probabilities = preds.float().softmax(dim=1)
                metric.update(probabilities, labels)
            else:
                metric.update(preds, labels)
        self.batches += 1

    def compute(self, base: Mapping[str, float]) -> dict[str, float]:
        """Scalar values (per-class ones spread into ``<stem>_class_<k>``); call on every rank.

        ``base`` is the task's fast metrics, for derived ones (rmse from mse)."""
        values: dict[str, float] = {}
        for name, spec in self.specs.items():
            if spec.derive is not None:
                values[name] = spec.derive(base)
            elif spec.shape == "scalar":
                values[name] = float(self._compute(name))
            elif spec.shape == "per_class" and self.classes is not None:
                result = self._compute(name).double().tolist()
                values.update(zip(class_keys(name, self.classes), result, strict=True))
        return values

    def matrices(self) -> dict[str, list[list[float]]]:
        """Matrix metrics (confusion_matrix: rows true class, columns predicted, as sklearn)."""
        return {
            name: self._compute(name).tolist()
            for name, spec in self.specs.items()
            if spec.shape == "matrix" and name in self.metrics
        }

    def _compute(self, name: str) -> torch.Tensor:
        """torchmetrics' value (synced over ranks); NaN when it is undefined (no sample yet,
        R² of one sample)."""
        metric = self.metrics.get(name)
        if metric is None:
            return torch.tensor(math.nan)
        with warnings.catch_warnings():  # "compute before update": a resumed, empty share
            warnings.filterwarnings("ignore", message=".*before the ``update``.*")
            try:
                return metric.compute().detach().cpu()
            except ValueError:
                return torch.tensor(math.nan)

    def state_dict(self) -> dict[str, Any]:
        """This rank's states on the host (checkpoints keep one per rank)."""
        states = {
            name: {k: _to_cpu(v) for k, v in metric.state_dict().items()}
            for name, metric in self.metrics.items()
        }
        return {"classes": self.classes, "batches": self.batches, "states": states}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state_dict()``'s output; metrics it lacks start empty."""
        if state.get("classes") is None:
            return
        self._build(int(state["classes"]))
        self.batches = int(state["batches"])
        for name, saved in state["states"].items():
            if name in self.metrics:
                moved = {k: _to_device(v, self.device) for k, v in saved.items()}
                self.metrics[name].load_state_dict(moved)


def _classes(task: str, outputs: torch.Tensor) -> int:
    if task == "regression":
        return outputs.shape[1] if outputs.ndim > 1 else 1
    return max(int(outputs.shape[1]), 2)  # one channel: a binary mask, two classes


def _inputs(
    task: str, outputs: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """What the task's metrics take: (scores, class indices) for classification, (predicted,
    true) class indices per pixel for segmentation, float64 values for regression."""
    if task == "classification":
        return outputs.float(), targets.long()
    if task == "segmentation":
        return segmentation_labels(outputs, targets)
    values = outputs.double().reshape(targets.shape)
    if values.ndim > 2:  # torchmetrics' R² takes (N,) or (N, outputs)
        values = values.flatten(1)
    return values, targets.double().reshape(values.shape)


def segmentation_labels(
    outputs: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true class per pixel, read as the fast dice/iou read them: a 1-channel
    logit > 0 is foreground (1) against a 0/1 mask; C channels are argmax against class
    indices (N x H x W, N x 1 x H x W or one-hot); true classes outside [0, C) become -1
    (ignored)."""
    classes = outputs.shape[1]
    if classes == 1:
        pred = (outputs > 0).long()
        truth = (targets > 0.5).reshape(pred.shape).long()
        return pred.flatten(1), truth.flatten(1)
    if targets.ndim == outputs.ndim and targets.shape[1] == classes:
        targets = targets.argmax(dim=1)
    elif targets.ndim == outputs.ndim:
        targets = targets.squeeze(1)
    truth = targets.long()
    truth = torch.where((truth >= 0) & (truth < classes), truth, -1)
    return outputs.argmax(dim=1).flatten(1), truth.flatten(1)


def _to_cpu(value: Any) -> Any:
    if isinstance(value, list):
        return [v.detach().cpu() for v in value]
    return value.detach().cpu() if isinstance(value, torch.Tensor) else value


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, list):
        return [v.to(device) for v in value]
    return value.to(device) if isinstance(value, torch.Tensor) else value
