"""``dltrain plot RUN_DIR`` (dltrain/cli/plot.py) and ``plots=true``: PNGs in RUN_DIR/plots.

From metrics.jsonl: loss.png, one <metric>.png per metric (train vs val per epoch), lr.png.
From the best checkpoint run on the val (or test) split: confusion_matrix.png and samples.png
for classification, samples.png (input, true mask, predicted mask, wrong pixels) for segmentation,
predictions.png (predicted vs true) for regression. matplotlib only renders to files (Agg).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from dltrain.errors import UserError

log = logging.getLogger("dltrain")


def plot_run(
    run_dir: Path,
    split: str = "auto",
    samples: int = 16,
    predictions: bool = True,
    device: str = "auto",
    output: Path | None = None,
    data_overrides: Sequence[str] = (),
) -> list[Path]:
    """Write every plot the run allows; returns the PNG paths.

    ``run_dir``: a run folder (its best.pt, else last.pt, predicts) or a checkpoint file in one
    (RUN_DIR/checkpoints/NAME.pt: that checkpoint predicts, the curves are the run's).
    """
    from dltrain.plots.curves import plot_curves

    ckpt = Path(run_dir).expanduser()
    if ckpt.is_file():
        from dltrain.inference.trained import run_dir_of

        run_dir = run_dir_of(ckpt)
    else:
        run_dir = ckpt
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a folder. Pass a run folder, e.g. outputs/DATE/TIME.")
    if samples < 1:
        raise UserError(f"samples must be 1 or more, got {samples}.")
    folder = Path(output) if output else run_dir / "plots"
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file() and not predictions:
        raise UserError(f"{run_dir} has no metrics.jsonl: it is not a dltrain run folder.")
    written = plot_curves(metrics, folder, *logging_settings(run_dir)) if metrics.is_file() else []
    if predictions:
        from dltrain.plots.gallery import plot_predictions

        written += plot_predictions(ckpt, folder, split, samples, device, list(data_overrides))
    return written


def logging_settings(run_dir: Path) -> tuple[str, int | None]:
    """scheduler.interval and logging.every_n_steps from the run's config.yaml (epoch and
    unknown when it cannot be read)."""
    from omegaconf import OmegaConf

    try:
        cfg = OmegaConf.load(run_dir / "config.yaml")
    except Exception:  # noqa: BLE001 - a missing or odd config only changes labels and the lr
        return "epoch", None
    every = OmegaConf.select(cfg, "logging.every_n_steps", default=None)
    interval = OmegaConf.select(cfg, "scheduler.interval", default="epoch")
    return str(interval), every if isinstance(every, int) and every > 0 else None
