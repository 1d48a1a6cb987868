"""``model.weights``: load a local state dict or checkpoint file into a model, safely.

Files are read with ``torch.load(weights_only=True)`` (no pickled code runs), never fetched
from the network. A dltrain checkpoint (its ``model`` entry), a ``{"state_dict": ...}`` file
or a plain state dict all work; DDP's ``module.`` and torch.compile's ``_orig_mod.`` prefixes
are stripped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.train.checkpoint import load_model_weights, safe_load, strip_prefixes

NESTED_KEYS = ("model", "state_dict", "model_state_dict", "model_state")


def read_state_dict(path: str | Path, key: str = "model.weights") -> dict[str, torch.Tensor]:
    """The tensors of a weights file, without prefixes; ``key`` names the option in errors."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{key}={path}: no such file. Pass a local .pt/.pth state-dict file.")
    state: Any = safe_load(
        path, f"{key}={path}", "Save weights with torch.save(model.state_dict(), PATH)."
    )
    for nested in NESTED_KEYS:
        if isinstance(state, Mapping) and isinstance(state.get(nested), Mapping):
            state = state[nested]
            break
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise UserError(f"{key}={path} holds no state dict (a mapping of names to tensors).")
    return strip_prefixes(state)


def load_weights(model: nn.Module, path: str | Path, key: str = "model.weights") -> None:
    """Load ``path`` into ``model`` strictly; a mismatch names the file and the keys."""
    load_model_weights(
        model,
        read_state_dict(path, key),
        f"{key}={path}",
        fix="Pass weights saved from the same architecture and model options.",
    )


def fits(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether the state dict has exactly the model's keys and shapes."""
    own = model.state_dict()
    return set(own) == set(state_dict) and all(
        tuple(own[k].shape) == tuple(state_dict[k].shape) for k in own
    )
