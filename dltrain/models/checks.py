"""A model section's own checks, run in the parent before any folder exists (nothing is built).

Weight files must exist on a fresh run (a resumed run takes its weights from last.pt), the
``init`` scheme must be known, and a zoo model's ``arch`` must be one its library has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dltrain.errors import UserError

# Model options that name a weights file; a checkpoint supplies the weights instead on resume.
WEIGHT_FILE_KEYS = ("weights", "pretrained_path")


def check_model_section(model: Any, fresh_run: bool) -> None:
    """Exit-2 errors for a model section, before training starts; ``model`` is a mapping."""
    if fresh_run:
        for key in WEIGHT_FILE_KEYS:
            path = model.get(key)
            if path and not Path(str(path)).expanduser().is_file():
                raise UserError(
                    f"model.{key}={path}: no such file. Pass a local state-dict file (.pt/.pth); "
                    "nothing is downloaded."
                )
    if model.get("init"):
        from dltrain.models.init import parse_init

        parse_init(model["init"])
    from dltrain.registry import MODELS

    check = MODELS.entry(model["name"]).check  # e.g. a zoo model: does its library know arch?
    if check is not None:
        check(model)


def arch_check(check_arch: Callable[[str], None]) -> Callable[[Mapping[str, Any]], None]:
    """A zoo model's registered check: its library knows ``model.arch`` (no model is built)."""

    def check(section: Mapping[str, Any]) -> None:
        if section.get("arch"):
            check_arch(str(section["arch"]))

    return check
