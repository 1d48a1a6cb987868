"""Segmentation and regression metrics against hand-computed values; checkpoint.monitor=auto."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from dltrain.config.compose import compose
from dltrain.config.validate import validate
from dltrain.errors import UserError
from dltrain.train.metrics import RegressionMetrics, SegmentationMetrics, metrics_for
from dltrain.train.monitor import resolve_monitor

CPU = torch.device("cpu")


def _binary_example() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Four 2x2 images in batches of 3 and 1: (loss, logits, mask) per batch.

    Per image (intersection, predicted, target): (1, 2, 2), (0, 0, 1), (4, 4, 4), (0, 1, 0).
    Whole split: I=5, P=7, T=7 -> dice = 10/14, iou = 5/9.
    """
    logits = torch.tensor(
        [[[2.0, -1.0], [3.0, -2.0]], [[-1.0, -1.0], [-1.0, -1.0]], [[1.0, 1.0], [1.0, 1.0]],
         [[1.0, -1.0], [-1.0, -1.0]]]
    ).unsqueeze(1)  # fmt: skip
    masks = torch.tensor(
        [[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]],
         [[0.0, 0.0], [0.0, 0.0]]]
    ).unsqueeze(1)  # fmt: skip
    return [(torch.tensor(0.3), logits[:3], masks[:3]), (torch.tensor(0.9), logits[3:], masks[3:])]


def test_binary_dice_and_iou_over_the_whole_split():
    metrics = metrics_for("segmentation", CPU)
    assert isinstance(metrics, SegmentationMetrics)
    for loss, logits, masks in _binary_example():
        metrics.update(loss, logits, masks)
    result = metrics.compute()
    assert result["dice"] == pytest.approx(10 / 14)
    assert result["iou"] == pytest.approx(5 / 9)
    assert result["loss"] == pytest.approx((0.3 * 3 + 0.9 * 1) / 4)
    per_batch = (10 / 13 + 0.0) / 2  # what averaging per-batch dice would report instead
    assert abs(result["dice"] - per_batch) > 0.3


def test_multiclass_dice_and_iou_from_argmax():
    """Pixels predicted [0, 1, 1, 2, 3] against targets [0, 1, 2, 2, 255 (ignored)], 4 classes.

    Class 0: dice 1, iou 1. Class 1: I=1, P=2, T=1 -> dice 2/3, iou 1/2. Class 2: I=1, P=1, T=2
    -> 2/3, 1/2. Class 3 is absent from prediction and target (once 255 is ignored): left out.
    """
    predicted = torch.tensor([0, 1, 1, 2, 3])
    logits = (5.0 * F.one_hot(predicted, 4).float()).T.reshape(1, 4, 1, 5)
    targets = torch.tensor([[[0, 1, 2, 2, 255]]])
    expected = {"dice": (1 + 2 / 3 + 2 / 3) / 3, "iou": (1 + 0.5 + 0.5) / 3}
    for target in (targets, targets.unsqueeze(1)):
        metrics = SegmentationMetrics(CPU)
        metrics.update(torch.tensor(1.0), logits, target)
        result = metrics.compute()
        assert result["dice"] == pytest.approx(expected["dice"])
        assert result["iou"] == pytest.approx(expected["iou"])
    one_hot = F.one_hot(torch.tensor([[[0, 1, 2, 2]]]), 4).permute(0, 3, 1, 2).float()
    metrics = SegmentationMetrics(CPU)
    metrics.update(torch.tensor(1.0), logits[..., :4], one_hot)
    assert metrics.compute()["dice"] == pytest.approx(expected["dice"])


@pytest.mark.parametrize("channels", [1, 3])
def test_uneven_batches_give_the_single_batch_values(channels: int):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, channels, 6, 6, generator=generator)
    if channels == 1:
        targets = (torch.rand(5, 1, 6, 6, generator=generator) > 0.5).float()
    else:
        targets = torch.randint(0, channels, (5, 6, 6), generator=generator)
    whole, split = SegmentationMetrics(CPU), SegmentationMetrics(CPU)
    whole.update(torch.tensor(0.5), logits, targets)
    split.update(torch.tensor(0.5), logits[:4], targets[:4])
    split.update(torch.tensor(0.5), logits[4:], targets[4:])
    assert split.compute() == pytest.approx(whole.compute())


def test_empty_prediction_and_target_agree_perfectly():
    metrics = SegmentationMetrics(CPU)
    metrics.update(torch.tensor(0.1), -torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3))
    assert metrics.compute() == pytest.approx({"loss": 0.1, "dice": 1.0, "iou": 1.0})


def test_regression_mse_and_mae_with_an_uneven_last_batch():
    """Errors -0.5, 0, 2 (batch of 3) and 1 (batch of 1): mse 5.25/4, mae 3.5/4."""
    metrics = metrics_for("regression", CPU)
    assert isinstance(metrics, RegressionMetrics)
    batches = [
        (torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([[1.5], [2.0], [1.0]])),
        (torch.tensor([[0.0]]), torch.tensor([[-1.0]])),
    ]
    for outputs, targets in batches:
        metrics.update(F.mse_loss(outputs, targets), outputs, targets)
    result = metrics.compute()
    assert result["mse"] == pytest.approx(5.25 / 4)
    assert result["mae"] == pytest.approx(3.5 / 4)
    assert result["loss"] == pytest.approx(5.25 / 4)  # sample-weighted batch means


def test_regression_refuses_outputs_of_another_width():
    with pytest.raises(ValueError, match="output width"):
        RegressionMetrics(CPU).update(torch.tensor(0.0), torch.zeros(4, 2), torch.zeros(4, 1))


@pytest.mark.parametrize(
    ("monitor", "mode", "task", "expected"),
    [
        ("auto", "auto", "classification", ("val/accuracy", "max")),
        ("auto", "auto", "segmentation", ("val/dice", "max")),
        ("auto", "auto", "regression", ("val/loss", "min")),
        ("val/iou", "auto", "segmentation", ("val/iou", "max")),
        ("val/mae", "auto", "regression", ("val/mae", "min")),
        ("train/loss", "auto", "classification", ("train/loss", "min")),
        ("val/loss", "max", "regression", ("val/loss", "max")),
        ("auto", "min", "classification", ("val/accuracy", "min")),
    ],
)
def test_checkpoint_monitor_auto(monitor, mode, task, expected):
    assert resolve_monitor(monitor, mode, task) == expected


def test_config_accepts_auto_and_rejects_other_words():
    validate(compose(["checkpoint.monitor=auto", "checkpoint.mode=auto"]))
    validate(compose(["checkpoint.monitor=val/dice", "checkpoint.mode=max"]))
    with pytest.raises(UserError, match="checkpoint.monitor must be auto or name"):
        validate(compose(["checkpoint.monitor=dice"]))
    with pytest.raises(UserError, match="checkpoint.mode must be one of auto, max, min"):
        validate(compose(["checkpoint.mode=best"]))
