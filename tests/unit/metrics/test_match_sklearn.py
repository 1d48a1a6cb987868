"""The extra metrics (metrics=[...]) equal scikit-learn's on the same predictions.

Fixed predictions go through the code path a split uses (train/loop.py ``evaluate``: the model
is the identity, so its inputs are the outputs), in batches of unequal sizes, so a metric that
averaged per batch instead of over the split would show.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as sk
from torch import nn

from dltrain.train.loop import evaluate
from dltrain.train.precision import Precision

CPU = torch.device("cpu")
SIZES = (50, 17, 64, 3)  # unequal batches of one split
CLASSES = 5


def _split(outputs: torch.Tensor, targets: torch.Tensor) -> list[tuple]:
    batches, start = [], 0
    for size in SIZES:
        batches.append((outputs[start : start + size], targets[start : start + size]))
        start += size
    return batches


def _evaluate(task: str, loss: nn.Module, outputs, targets, names: list[str]) -> dict:
    precision = Precision("fp32", CPU)
    batches = _split(outputs, targets)
    return evaluate(nn.Identity(), batches, loss, precision, CPU, task, False, names, True)


@pytest.fixture(scope="module")
def classified() -> tuple[torch.Tensor, torch.Tensor, dict]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(sum(SIZES), CLASSES, generator=generator) * 2
    targets = torch.randint(0, CLASSES, (sum(SIZES),), generator=generator)
    names = [
        "top2_accuracy", "top3_accuracy", "f1_macro", "f1_micro", "precision_macro",
        "precision_micro", "recall_macro", "recall_micro", "accuracy_per_class", "auroc",
        "confusion_matrix",
    ]  # fmt: skip
    result = _evaluate("classification", nn.CrossEntropyLoss(), logits, targets, names)
    return logits, targets, result


@pytest.mark.parametrize(
    ("name", "average"),
    [("f1", "macro"), ("f1", "micro"), ("precision", "macro"), ("precision", "micro"),
     ("recall", "macro"), ("recall", "micro")],
)  # fmt: skip
def test_f1_precision_recall(classified, name, average):
    logits, targets, result = classified
    score = {"f1": sk.f1_score, "precision": sk.precision_score, "recall": sk.recall_score}[name]
    expected = score(targets.numpy(), logits.argmax(1).numpy(), average=average)
    assert result[f"{name}_{average}"] == pytest.approx(expected, abs=1e-6)


def test_top_k_per_class_auroc_and_confusion_matrix(classified):
    logits, targets, result = classified
    y, scores = targets.numpy(), logits.numpy()
    labels = list(range(CLASSES))
    for k in (2, 3):
        expected = sk.top_k_accuracy_score(y, scores, k=k, labels=labels)
        assert result[f"top{k}_accuracy"] == pytest.approx(expected, abs=1e-6)
    matrix = sk.confusion_matrix(y, scores.argmax(1), labels=labels)
    assert result["confusion_matrix"] == matrix.tolist()
    per_class = matrix.diagonal() / matrix.sum(axis=1)
    for k in labels:
        assert result[f"accuracy_class_{k}"] == pytest.approx(per_class[k], abs=1e-6)
    probabilities = logits.softmax(1).numpy()
    expected = sk.roc_auc_score(y, probabilities, multi_class="ovr", average="macro")
    assert result["auroc"] == pytest.approx(expected, abs=1e-6)
    assert result["accuracy"] == pytest.approx(sk.accuracy_score(y, scores.argmax(1)))


def test_regression_r2_rmse_and_mae():
    generator = torch.Generator().manual_seed(1)
    targets = torch.randn(sum(SIZES), 1, generator=generator)
    outputs = targets + 0.5 * torch.randn(sum(SIZES), 1, generator=generator)
    result = _evaluate("regression", nn.MSELoss(), outputs, targets, ["mae", "rmse", "r2"])
    y, p = targets.double().numpy().ravel(), outputs.double().numpy().ravel()
    assert result["r2"] == pytest.approx(sk.r2_score(y, p), abs=1e-9)
    assert result["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(y, p)), abs=1e-6)
    assert result["mae"] == pytest.approx(sk.mean_absolute_error(y, p), abs=1e-6)
    assert set(result) == {"loss", "mse", "mae", "rmse", "r2"}  # mae once, under one name


@pytest.mark.parametrize("channels", [1, 3])
def test_segmentation_dice_and_iou_per_class(channels):
    generator = torch.Generator().manual_seed(2)
    count = sum(SIZES)
    outputs = torch.randn(count, channels, 6, 6, generator=generator)
    if channels == 1:  # a binary mask: class 0 background, class 1 foreground
        targets = (torch.rand(count, 1, 6, 6, generator=generator) > 0.5).float()
        pred, truth = (outputs > 0).long().ravel(), targets.long().ravel()
        loss: nn.Module = nn.BCEWithLogitsLoss()
    else:
        targets = torch.randint(0, channels, (count, 6, 6), generator=generator)
        pred, truth = outputs.argmax(1).ravel(), targets.ravel()
        loss = nn.CrossEntropyLoss()
    names = ["dice_per_class", "iou_per_class"]
    result = _evaluate("segmentation", loss, outputs, targets, names)
    dice = sk.f1_score(truth.numpy(), pred.numpy(), average=None)
    iou = sk.jaccard_score(truth.numpy(), pred.numpy(), average=None)
    for k in range(max(channels, 2)):
        assert result[f"dice_class_{k}"] == pytest.approx(dice[k], abs=1e-6)
        assert result[f"iou_class_{k}"] == pytest.approx(iou[k], abs=1e-6)
    if channels == 1:  # the fast path's dice is the foreground's
        assert result["dice"] == pytest.approx(dice[1], abs=1e-6)
