"""report.png: every sweep job's validation curve of the monitored metric, one line each
(pruned jobs dashed, failed dotted), labelled with the overrides that differ between jobs, so
a glance shows which settings learn and which stall."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dltrain.plots.curves import read_events, split_events
from dltrain.plots.figures import new_figure, save, whole_epoch_ticks

STYLES = {"pruned": "--", "failed": ":"}


def plot_curves(jobs: Sequence[Any], monitor: str, path: Path) -> Path:
    figure = new_figure(8.0, 4.8)
    axes = figure.add_subplot()
    drawn, last = 0, 1
    common = set.intersection(*(set(j.overrides.split()) for j in jobs)) if jobs else set()
    for job in jobs:
        curve = validation_curve(job.folder, monitor)
        if not curve:
            continue
        varying = " ".join(o for o in job.overrides.split() if o not in common)
        label = f"{job.name} ({job.status}) {varying}"
        axes.plot(
            [e for e, _ in curve],
            [v for _, v in curve],
            STYLES.get(job.status, "-"),
            marker="o",
            markersize=3,
            label=label[:70],
        )
        drawn, last = drawn + 1, max(last, curve[-1][0])
    whole_epoch_ticks(axes)  # epochs are whole numbers, also when the jobs ran one
    axes.set_xlim(0.5, last + 0.5)
    axes.set_xlabel("epoch")
    axes.set_ylabel(monitor)
    axes.set_title(f"{monitor} per epoch, {drawn} job(s)")
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend(fontsize=7, loc="best")
    return save(figure, path)


def validation_curve(folder: Path, monitor: str) -> list[tuple[int, float]]:
    path = folder / "metrics.jsonl"
    if not path.is_file():
        return []
    epochs, _ = split_events(read_events(path))
    return [(e["epoch"], e[monitor]) for e in epochs if monitor in e]
