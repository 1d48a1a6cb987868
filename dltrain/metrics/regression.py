"""Regression metrics: R² from torchmetrics, RMSE from the task's own sums.

RMSE is the square root of the split's ``mse``, which the fast sums already hold (DDP-reduced
and checkpointed), so it costs nothing per step; a second, torchmetrics copy of the same
squared errors would only add work. ``mse`` and ``mae`` are always logged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dltrain.metrics.catalog import MetricSpec, register

TASK = "regression"


def _r2(classes: int) -> Any:
    """R² averaged over the outputs (scikit-learn's ``uniform_average``)."""
    from torchmetrics import R2Score

    return R2Score(multioutput="uniform_average")


def _rmse(base: Mapping[str, float]) -> float:
    return math.sqrt(base["mse"])


register("mse", MetricSpec(TASK))
register("mae", MetricSpec(TASK))
register("rmse", MetricSpec(TASK, derive=_rmse))
register("r2", MetricSpec(TASK, build=_r2))
