"""Segmentation metrics from torchmetrics: Dice and IoU of every class.

Each pixel is one sample of a multiclass problem (binary masks: class 0 background, class 1
foreground), so per-class Dice is torchmetrics' multiclass F1 and IoU its Jaccard index, both
from pixel counts summed over the whole split, as the fast ``dice``/``iou`` are. (torchmetrics'
segmentation.MeanIoU averages per batch, which would weigh a small last batch like a full one.)
"""

from __future__ import annotations

from typing import Any

from dltrain.metrics.catalog import MetricSpec, register

TASK = "segmentation"


def _dice(classes: int) -> Any:
    from torchmetrics.classification import MulticlassF1Score

    return MulticlassF1Score(classes, average=None, ignore_index=-1, validate_args=False)


def _iou(classes: int) -> Any:
    from torchmetrics.classification import MulticlassJaccardIndex

    return MulticlassJaccardIndex(classes, average=None, ignore_index=-1, validate_args=False)


register("dice", MetricSpec(TASK))  # mean over classes, always logged by the task's sums
register("iou", MetricSpec(TASK))
register("dice_per_class", MetricSpec(TASK, build=_dice, shape="per_class"))
register("iou_per_class", MetricSpec(TASK, build=_iou, shape="per_class"))
