"""A model from its config section: the registered builder, then the shared options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from dltrain.registry import MODELS


def model_task(section: Mapping[str, Any]) -> str:
    """The task a model registered (default classification): it decides targets and metrics."""
    return MODELS.entry(section["name"]).task or "classification"


def build_model(section: Mapping[str, Any], load_weights: bool = True) -> nn.Module:
    """The model with its shared options applied (models/options.py).

    ``load_weights=False`` skips ``model.weights``: a checkpoint about to be loaded (resume,
    eval, predict) supplies the weights.
    """
    from dltrain.models.options import apply_shared, split_section

    own, shared = split_section(section, MODELS.get(section["name"]), load_weights)
    return apply_shared(MODELS.build(own), shared)
