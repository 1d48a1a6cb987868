"""Checkpoints: written atomically, loaded safely (weights_only=True), prefixes tolerated."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch

from dltrain.errors import RunError, UserError
from dltrain.train.run_files import temp_file_beside

PREFIXES = ("module.", "_orig_mod.")


def save_atomic(obj: Mapping[str, Any], path: str | Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``.

    A kill at any moment leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(dict(obj), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        failure = _os_error(err)
        if failure is None or not isinstance(err, Exception):
            raise
        raise _save_failed(path, failure) from None
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _os_error(err: BaseException) -> OSError | None:
    """The OSError behind ``err`` (torch.save reports a failed write as a RuntimeError)."""
    seen: BaseException | None = err
    while seen is not None and not isinstance(seen, OSError):
        seen = seen.__cause__ or seen.__context__
    return seen


def _save_failed(path: Path, err: OSError) -> RunError:
    """A save that the disk refused (full, quota, file size limit, gone read-only)."""
    kept = (
        f"the previous {path.name} is kept unchanged"
        if path.is_file()
        else f"there is no earlier {path.name}"
    )
    return RunError(
        f"could not save {path} ({err.strerror or err}); {kept}. Free space on that disk (or "
        f"make {path.parent} writable), then run the same command again: it resumes from the "
        "last checkpoint saved."
    )


def safe_load(
    path: Path | BinaryIO, what: str, fix: str, map_location: str | torch.device = "cpu"
) -> Any:
    """``torch.load(weights_only=True)`` of a file (or its bytes, as a binary stream); one it
    cannot read is a UserError naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{what} cannot be read safely ({first}). {fix}") from None


def load(
    path: str | Path, map_location: str | torch.device = "cpu", data: bytes | None = None
) -> dict[str, Any]:
    """Load a dltrain checkpoint (``data``: its bytes, read elsewhere: rank0_files.py); any
    unreadable file is a UserError naming it."""
    path = Path(path)
    if data is None and not path.is_file():
        raise UserError(f"checkpoint {path} does not exist. Pass a .pt file or a run folder.")
    state = safe_load(
        path if data is None else io.BytesIO(data),
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
