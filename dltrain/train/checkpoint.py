"""Checkpoints: written atomically, loaded safely (weights_only=True), prefixes tolerated."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dltrain.errors import UserError
from dltrain.train.run_files import public_mode

PREFIXES = ("module.", "_orig_mod.")


def save_atomic(obj: Mapping[str, Any], path: str | Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``.

    A kill at any moment leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, public_mode())
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(dict(obj), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def safe_load(
    path: Path, what: str, fix: str, map_location: str | torch.device = "cpu"
) -> Any:
    """``torch.load(weights_only=True)``; a file it cannot read is a UserError naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{what} cannot be read safely ({first}). {fix}") from None


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a dltrain checkpoint; any unreadable file is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist. Pass a .pt file or a run folder.")
    state = safe_load(
        path,
        f"checkpoint {path}",
        "It is truncated, corrupt, or not a checkpoint saved by dltrain / torch.save of a "
        "state dict.",
        map_location,
    )
    if not isinstance(state, dict) or "model" not in state:
        raise UserError(
            f"checkpoint {path} has no 'model' entry: it is not a dltrain checkpoint. A plain "
            "state_dict can be loaded as model weights (model.weights=PATH) instead."
        )
    return state


def strip_prefixes(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Remove DDP's ``module.`` and torch.compile's ``_orig_mod.`` prefixes from every key."""
    clean = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for prefix in PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        clean[key] = value
    return clean


def load_model_weights(
    model: torch.nn.Module,
    state_dict: Mapping[str, Any],
    source: str,
    fix: str = "Use the model config the checkpoint was trained with (see its run folder's "
    "config.yaml).",
) -> None:
    """Load weights strictly; a mismatch is a UserError listing the keys and shapes that differ."""
    state_dict = strip_prefixes(state_dict)
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong_shape = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong_shape:
        details = []
        if missing:
            details.append(f"missing keys {_few(missing)}")
        if unexpected:
            details.append(f"unexpected keys {_few(unexpected)}")
        if wrong_shape:
            details.append(f"shape mismatches {_few(wrong_shape)}")
        raise UserError(f"checkpoint {source} does not fit the model ({'; '.join(details)}). {fix}")
    model.load_state_dict(state_dict)


def _few(items: list[str], limit: int = 5) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
