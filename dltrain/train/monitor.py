"""Which metric best.pt keeps and in which direction: ``checkpoint.monitor`` / ``mode``.

Torch-free, so ``dltrain report``, the plots and the Optuna sweeper resolve the objective
exactly as the training recipe does without importing torch.
"""

from __future__ import annotations

MONITORS: dict[str, tuple[str, str]] = {
    "classification": ("val/accuracy", "max"),
    "segmentation": ("val/dice", "max"),
    "regression": ("val/loss", "min"),
}
LOWER_IS_BETTER = {"loss", "mse", "mae"}


def resolve_monitor(monitor: str, mode: str, task: str) -> tuple[str, str]:
    """``auto`` becomes the task's metric and direction; an explicit metric with mode ``auto``
    is minimised when it is a loss or an error, maximised otherwise."""
    if monitor == "auto":
        monitor, task_mode = MONITORS.get(task, ("val/loss", "min"))
        mode = task_mode if mode == "auto" else mode
    if mode == "auto":
        mode = "min" if monitor.rsplit("/", 1)[-1] in LOWER_IS_BETTER else "max"
    return monitor, mode
