"""A data set's splits from its config section, with the targets the model's task needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dltrain.errors import UserError
from dltrain.registry import DATA


def build_data(section: Mapping[str, Any], task: str = "classification") -> Any:
    """The data set's splits with targets for ``task``."""
    check_targets_for(section, task)
    return DATA.get(section["name"])(section, task=task)


def check_targets_for(section: Mapping[str, Any], task: str) -> None:
    """The data set offers targets for the model's ``task`` (exit 2 naming what it offers)."""
    tasks = DATA.entry(section["name"]).tasks or {"classification"}  # none named: labels
    if task not in tasks:
        offers = ", ".join(sorted(tasks))
        raise UserError(
            f"data '{section['name']}' has no {task} targets (it offers {offers})."
            " Pick a model for that task or another data set."
        )


def has_validation_split(section: Mapping[str, Any]) -> bool:
    """Whether the splits will include validation: a ``val_dir``, or a ``val_split`` above 0
    (a data set whose section has neither is taken to bring its own)."""
    return bool(section.get("val_dir")) or section.get("val_split", 1) > 0
