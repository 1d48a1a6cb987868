"""Classification metrics from torchmetrics, by name.

torchmetrics rather than our own sums: its multiclass metrics are tested against
scikit-learn, keep their state as counts that sum over batches and ranks, and sync
themselves under DDP. ``validate_args=False`` keeps the per-batch input checks (host reads)
out of the training step. Micro-averaged F1, precision and recall of single-label classes all
equal accuracy; they are offered because users look for them by these names.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from dltrain.metrics.catalog import TOP_K, MetricSpec, register, register_family

TASK = "classification"


def _stat(kind: str, average: str | None, classes: int, **options: Any) -> Any:
    """torchmetrics' Multiclass<kind> (Accuracy, F1Score, Precision, Recall)."""
    from torchmetrics import classification

    metric = getattr(classification, f"Multiclass{kind}")
    return metric(classes, average=average, validate_args=False, **options)


def _top_k(k: int, classes: int) -> Any:
    return _stat("Accuracy", "micro", classes, top_k=k)


def top_k_accuracy(k: int) -> MetricSpec:
    """topK_accuracy: the share of samples whose class is among the K highest scores."""
    return MetricSpec(TASK, build=partial(_top_k, k))


def _auroc(classes: int) -> Any:
    from torchmetrics.classification import MulticlassAUROC

    # thresholds=None: exact (every probability kept, as scikit-learn's roc_auc_score)
    return MulticlassAUROC(classes, average="macro", thresholds=None, validate_args=False)


def _confusion_matrix(classes: int) -> Any:
    from torchmetrics.classification import MulticlassConfusionMatrix

    return MulticlassConfusionMatrix(classes, validate_args=False)


register_family(TOP_K, lambda match: top_k_accuracy(int(match.group(1))))
register("accuracy", MetricSpec(TASK))  # top-1, always logged by the task's sums
register("top3_accuracy", top_k_accuracy(3))
register("top5_accuracy", top_k_accuracy(5))
for _average in ("macro", "micro"):
    register(f"f1_{_average}", MetricSpec(TASK, build=partial(_stat, "F1Score", _average)))
    register(f"precision_{_average}", MetricSpec(TASK, build=partial(_stat, "Precision", _average)))
    register(f"recall_{_average}", MetricSpec(TASK, build=partial(_stat, "Recall", _average)))
register(
    "accuracy_per_class",
    MetricSpec(TASK, build=partial(_stat, "Accuracy", None), shape="per_class"),
)
register("auroc", MetricSpec(TASK, build=_auroc, inputs="probabilities"))
register("confusion_matrix", MetricSpec(TASK, build=_confusion_matrix, shape="matrix"))
