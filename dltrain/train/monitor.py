"""Which metric best.pt keeps and in which direction: ``checkpoint.monitor`` / ``mode``.

Torch-free, so ``dltrain report``, the plots and the Optuna sweeper resolve the objective
exactly as the training recipe does without importing torch.
"""

from __future__ import annotations

from collections.abc import Sequence

from dltrain.errors import UserError
from dltrain.registry import did_you_mean

MONITORS: dict[str, tuple[str, str]] = {
    "classification": ("val/accuracy", "max"),
    "segmentation": ("val/dice", "max"),
    "regression": ("val/loss", "min"),
}
LOWER_IS_BETTER = {"loss", "mse", "mae", "rmse"}  # errors; every other metric: higher


def resolve_monitor(monitor: str, mode: str, task: str) -> tuple[str, str]:
    """``auto`` becomes the task's metric and direction; an explicit metric with mode ``auto``
    is minimised when it is a loss or an error, maximised otherwise."""
    if monitor == "auto":
        monitor, task_mode = MONITORS.get(task, ("val/loss", "min"))
        mode = task_mode if mode == "auto" else mode
    if mode == "auto":
        mode = "min" if monitor.rsplit("/", 1)[-1] in LOWER_IS_BETTER else "max"
    return monitor, mode


def check_monitored(
    key: str, monitor: str, logged: Sequence[str], has_val: bool, picked_by: str = ""
) -> None:
    """``monitor`` (the value of config ``key``) is a metric the run logs: a typo would keep no
    best.pt, and a val/ metric without a validation split would never be measured.

    ``logged`` holds every train/ and val/ metric of the task, whether or not there is a
    validation split, so a typo is named before the missing split. ``picked_by`` says where
    the value came from when the user did not write it (``auto``).
    """
    shown = f"{key}={monitor}{f' ({picked_by})' if picked_by else ''}"
    if monitor not in logged:
        raise UserError(
            f"{shown} is not a metric this run logs, so nothing would be compared."
            f"{did_you_mean(monitor, logged)} Its metrics: {', '.join(logged)}. Set {key} to "
            "one of them."
        )
    if monitor.startswith("val/") and not has_val:
        raise UserError(
            f"{shown} but there is no validation split (data.val_split=0), so it would "
            f"never be measured: set data.val_split > 0 or {key}=train/loss."
        )
