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
