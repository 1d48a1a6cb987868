"""Training curves from metrics.jsonl: loss, each metric (train vs val per epoch), learning rate.

Epoch records (the events with ``epoch_seconds``) give one point per epoch at x = epoch; the
step events are drawn faintly inside their epoch, at x = epoch - 1 + the fraction of its steps,
labelled with the run's logging.every_n_steps. The best val value is written above the axes
(a right-aligned title), where no line can run under it, and marked on its curve.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dltrain.plots.figures import (
    TRAIN_COLOUR,
    VAL_COLOUR,
    new_figure,
    save,
    whole_epoch_ticks,
)
from dltrain.train.monitor import LOWER_IS_BETTER

Event = Mapping[str, Any]


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def split_events(events: list[Event]) -> tuple[list[Event], list[Event]]:
    """(epoch records, one per epoch, the latest kept; step events)."""
    epochs: dict[int, Event] = {}
    steps = []
    for event in events:
        if "epoch_seconds" in event:
            epochs[event["epoch"]] = event
        else:
            steps.append(event)
    return [epochs[e] for e in sorted(epochs)], steps


def step_positions(epochs: list[Event], steps: list[Event]) -> list[float]:
    """x of each step event: its epoch's start plus the fraction of that epoch's steps done."""
    ends = {e["epoch"]: e["step"] for e in epochs}
    per_epoch = max((e["step"] / e["epoch"] for e in epochs), default=1.0) or 1.0
    xs = []
    for event in steps:
        epoch = event["epoch"]
        start = ends.get(epoch - 1, (epoch - 1) * per_epoch)
        length = ends.get(epoch, start + per_epoch) - start
        xs.append(epoch - 1 + (event["step"] - start) / max(length, 1))
    return xs


def metric_names(epochs: list[Event]) -> list[str]:
    """Metric names with a train/ or val/ value, loss first."""
    names: list[str] = []
    for event in epochs:
        for key in event:
            split, _, name = key.partition("/")
            if split in ("train", "val") and name and name not in names:
                names.append(name)
    return sorted(names, key=lambda n: (n != "loss", names.index(n)))


def plot_metric(
    epochs: list[Event], steps: list[Event], name: str, path: Path, log_every: int | None = None
) -> Path:
    """Train and val ``name`` per epoch (plus the logged training-step values of it).

    ``log_every``: the run's logging.every_n_steps (None: read off the step events' gaps).
    """
    figure = new_figure()
    axes = figure.add_subplot()
    logged = _points(step_positions(epochs, steps), steps, f"train/{name}")
    if logged:
        axes.plot(*zip(*logged, strict=True), color=TRAIN_COLOUR, alpha=0.25, lw=1,
                  label=f"train ({steps_label(log_every or _every(steps))})")  # fmt: skip
    for split, colour in (("train", TRAIN_COLOUR), ("val", VAL_COLOUR)):
        points = _points([e["epoch"] for e in epochs], epochs, f"{split}/{name}")
        if points:
            axes.plot(*zip(*points, strict=True), color=colour, marker="o", ms=4, lw=2,
                      label=f"{split} (epoch)")  # fmt: skip
    lower_better = name in LOWER_IS_BETTER
    values = [y for line in axes.get_lines() for y in line.get_ydata()]
    if lower_better and min(values, default=0) > 0 and max(values) / min(values) > 20:
        axes.set_yscale("log")  # late-training detail instead of one early drop
    axes.set_title(f"{name}: train vs val", loc="left")
    best = _best_val(epochs, name, lower_better)
    if best is not None:
        axes.axvline(best[0], color="grey", ls=":", lw=1)
        axes.plot(*best, marker="*", ms=12, color=VAL_COLOUR, mec="white", ls="none")
        axes.set_title(f"best val {best[1]:.4g} at epoch {best[0]}", loc="right", fontsize=9)
    axes.set(xlabel="epoch", ylabel=name)
    _integer_epochs(axes, epochs)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return save(figure, path)


def steps_label(every: int | None) -> str:
    """How often the faint training-step curve was logged, for its legend entry."""
    if every is None:
        return "logged steps"
    return "every step" if every == 1 else f"every {every} steps"


def plot_lr(
    epochs: list[Event], steps: list[Event], path: Path, per_epoch: bool = True
) -> Path | None:
    """The rate of each epoch as a staircase (``per_epoch``), or a line when it moves per step."""
    points = _points(step_positions(epochs, steps), steps, "lr")
    points = sorted(points + _points([e["epoch"] for e in epochs], epochs, "lr"))
    if not points:
        return None
    figure = new_figure(6.4, 3.2)
    axes = figure.add_subplot()
    if per_epoch:  # an epoch's record holds the rate the epoch ran at: it spans (e - 1, e]
        points = [(0.0, points[0][1])] + [(x, y) for x, y in points if x == int(x)]
    style = "steps-pre" if per_epoch else "default"
    axes.plot(*zip(*points, strict=True), color="#2ca02c", lw=2, drawstyle=style)
    values = [y for _, y in points]
    if min(values) > 0 and max(values) / min(values) > 20:
        axes.set_yscale("log")
    axes.set(xlabel="epoch", ylabel="learning rate", title="learning rate (param group 0)")
    _integer_epochs(axes, epochs)
    axes.grid(alpha=0.3)
    return save(figure, path)


def plot_curves(
    metrics_path: Path, folder: Path, lr_interval: str = "epoch", log_every: int | None = None
) -> list[Path]:
    """loss.png, <metric>.png for each metric, lr.png; nothing if no epoch has finished.

    ``lr_interval``: scheduler.interval of the run (epoch: the rate changes between epochs);
    ``log_every``: its logging.every_n_steps (the legend of the step curve).
    """
    epochs, steps = split_events(read_events(metrics_path))
    if not epochs:
        return []
    written = [
        plot_metric(epochs, steps, name, folder / f"{name}.png", log_every)
        for name in metric_names(epochs)
    ]
    lr = plot_lr(epochs, steps, folder / "lr.png", per_epoch=lr_interval == "epoch")
    return written + ([lr] if lr else [])


def _best_val(epochs: list[Event], name: str, lower_better: bool) -> tuple[int, float] | None:
    points = _points([e["epoch"] for e in epochs], epochs, f"val/{name}")
    if not points:
        return None
    pick = min if lower_better else max
    return pick(points, key=lambda p: p[1])


def _points(xs: list[float], events: list[Event], key: str) -> list[tuple[float, float]]:
    """(x, value) of the events that logged ``key`` (null in metrics.jsonl: not a number)."""
    return [(x, e[key]) for x, e in zip(xs, events, strict=True) if e.get(key) is not None]


def _every(steps: list[Event]) -> int | None:
    """The logging interval as the step events show it; None when fewer than two show it."""
    gaps = [b["step"] - a["step"] for a, b in zip(steps, steps[1:], strict=False)]
    gaps = [gap for gap in gaps if gap > 0]
    return min(gaps) if gaps else None


def _integer_epochs(axes: Any, epochs: list[Event]) -> None:
    whole_epoch_ticks(axes)
    axes.set_xlim(left=0, right=max(e["epoch"] for e in epochs) + 0.2)
