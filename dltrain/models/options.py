"""The options every model section has besides its own: ``init``, ``weights``, ``freeze``,
``freeze_bn``.

They are applied in that order after the builder returns: initialise, then overwrite with
loaded weights, then freeze (and keep the frozen part's BatchNorm layers, or with
``freeze_bn`` every BatchNorm layer, in eval mode: models/batchnorm.py). A builder that
takes ``weights`` itself (``model=torchvision``) loads them where they belong (before its head
is replaced), so they are passed to it instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from dltrain.models.checks import WEIGHT_FILE_KEYS

SHARED_KEYS = ("init", "weights", "freeze", "freeze_bn")


def split_section(
    section: Mapping[str, Any], builder: Callable[..., Any], load_weights: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the builder's keys, the shared options) of a model section."""
    params = inspect.signature(builder).parameters
    own = {k: v for k, v in section.items() if k not in SHARED_KEYS or k in params}
    shared = {k: section.get(k) for k in SHARED_KEYS if k not in params}
    if not load_weights:
        shared["weights"] = None
        own.update({k: None for k in WEIGHT_FILE_KEYS if k in own and k in params})
    return own, shared


def apply_shared(model: nn.Module, shared: Mapping[str, Any]) -> nn.Module:
    """Apply ``init``, ``weights``, ``freeze`` and ``freeze_bn`` (any may be absent or null)."""
    if shared.get("init"):
        from dltrain.models.init import init_weights

        init_weights(model, shared["init"])
    if shared.get("weights"):
        from dltrain.models.weights import load_weights

        load_weights(model, shared["weights"])
    frozen, all_bn = shared.get("freeze"), bool(shared.get("freeze_bn"))
    if frozen:
        from dltrain.models.freeze import freeze

        freeze(model, frozen)
    if frozen or all_bn:
        from dltrain.models.batchnorm import batchnorm_names, keep_in_eval
        from dltrain.models.freeze import in_frozen_part

        where = None if all_bn else in_frozen_part(model, frozen)
        keep_in_eval(model, batchnorm_names(model, where))
    return model
