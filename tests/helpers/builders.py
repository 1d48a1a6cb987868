"""The component builders the tests call, imported in this one place.

When a builder moves (e.g. build_model to dltrain/models/build.py), change its line here.
"""

from __future__ import annotations

from dltrain.components.losses import build_loss
from dltrain.components.optimizers import build_optimizer
from dltrain.components.schedulers import build_scheduler
from dltrain.data.build import build_data
from dltrain.models.build import build_model, model_task

__all__ = [
    "build_data",
    "build_loss",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "model_task",
]
