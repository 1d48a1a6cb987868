"""Figures without pyplot: no global state, no display, the Agg renderer behind savefig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#d62728"


def new_figure(width: float = 6.4, height: float = 4.0) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def whole_epoch_ticks(axes: Any) -> None:
    """Epoch ticks on whole numbers only: matplotlib's integer locator falls back to fractions
    (0.96, 0.98, ...) when fewer than two whole numbers fit, as in a 1-epoch run;
    ``min_n_ticks=1`` keeps the single tick."""
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
