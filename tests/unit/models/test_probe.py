"""models/probe.py: a model tried on meta inputs, and the image sizes it runs on."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models.probe import (
    MetaUnsupported,
    check_input_shape,
    meta_output_shape,
    working_sizes,
)


def runs_between(low: int, high: int):
    return lambda size: low <= size <= high


@pytest.mark.parametrize(
    ("low", "high", "failing", "expected"),
    [
        (63, 10_000, 28, (63, None)),  # needs at least 63 (no limit above among candidates)
        (1, 32, 224, (None, 32)),  # at most 32
        (28, 28, 32, (28, 28)),  # exactly 28
        (40, 100, 300, (40, 100)),
    ],
)
def test_working_sizes_finds_the_exact_edges(low, high, failing, expected):
    assert working_sizes(runs_between(low, high), failing) == expected


def test_working_sizes_none_when_no_size_works():
    assert working_sizes(lambda size: False, 28) is None


def meta(model_type, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return model_type(**kwargs)


class Pooling(nn.Module):
    """Runs at any size: the output has the input's batch and a fixed width."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 1), 1))


class Fixed(nn.Module):
    """A flattening head sized for 28x28 inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5)
        self.fc = nn.Linear(4 * 24 * 24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.conv(x), 1))


class NoMetaKernel(nn.Module):
    """Reads a value: the meta device cannot say anything about this model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float(x.sum())


DATA = {"name": "fashionmnist", "shape": [1, 28, 28], "image_size": 28}
SECTION = {"name": "net"}


def test_the_output_shape_on_the_data_inputs():
    assert check_input_shape(meta(Pooling), SECTION, DATA) == (2, 10)


def test_a_size_mismatch_names_the_key_and_the_size_that_works():
    data = {**DATA, "shape": [1, 32, 32], "image_size": 32}
    with pytest.raises(UserError, match="runs at 28x28 only: .* data.image_size=28"):
        check_input_shape(meta(Fixed), SECTION, data)


def test_without_image_size_the_fix_is_data_shape():
    data = {"name": "synthetic", "shape": [1, 30, 30]}
    with pytest.raises(UserError, match=r"data.shape=\[1,28,28\]"):
        check_input_shape(meta(Fixed), SECTION, data)


def test_a_model_meta_cannot_run_is_not_refused():
    assert check_input_shape(NoMetaKernel(), SECTION, DATA) is None
    with pytest.raises(MetaUnsupported):
        meta_output_shape(NoMetaKernel(), [1, 28, 28])
