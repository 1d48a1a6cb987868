"""A split that counted no sample reports NaN for every metric, never a 0.0 that looks perfect
(an epoch whose every batch trainer.on_nan=skip dropped)."""

from __future__ import annotations

import math

import pytest
import torch

from dltrain.train.metrics import METRICS, metrics_for

CPU = torch.device("cpu")


@pytest.mark.parametrize("task", sorted(METRICS))
def test_no_samples_is_nan_for_every_metric(task: str):
    result = metrics_for(task, CPU).compute()
    assert result and all(math.isnan(v) for v in result.values()), result


def test_one_sample_is_a_number_again():
    metrics = metrics_for("classification", CPU)
    metrics.update(torch.tensor(0.5), torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
    assert metrics.compute() == {"loss": 0.5, "accuracy": 1.0}
