"""trainer.detect_anomaly: a backward pass that makes NaN is the run's error (exit 1), named."""

from __future__ import annotations

import pytest
import torch

from dltrain.errors import RunError
from dltrain.train.anomaly import anomaly_detection


def nan_backward() -> None:
    x = torch.zeros(3, requires_grad=True)
    (x * float("nan")).sum().backward()


@pytest.mark.filterwarnings("ignore:Error detected in")
def test_a_nan_in_backward_names_the_operator():
    found = "trainer.detect_anomaly: Function 'MulBackward0'"
    with pytest.raises(RunError, match=found), anomaly_detection(True):
        nan_backward()
    assert not torch.is_anomaly_enabled()


def test_off_it_changes_nothing():
    with anomaly_detection(False):
        nan_backward()
    with pytest.raises(ValueError), anomaly_detection(True):
        raise ValueError("not an anomaly")
