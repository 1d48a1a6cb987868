"""The component builders the tests call, imported in this one place.

When a builder moves (e.g. build_model to dltrain/models/build.py), change its line here.
"""

from __future__ import annotations

from dltrain.components.build import (
    build_data,
    build_loss,
    build_model,
    build_scheduler,
    model_task,
)
from dltrain.components.optimizers import build_optimizer

__all__ = [
    "build_data",
    "build_loss",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "model_task",
]
