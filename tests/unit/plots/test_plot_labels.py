"""The plots on synthetic metrics.jsonl and masks: the step curve's legend names the run's real
logging interval, the best-value label sits clear of every line, wrong pixels of a
segmentation show in two colours with a legend, and epoch ticks are whole numbers also for
1-epoch runs and sweeps."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.text import Text
from omegaconf import OmegaConf

from dltrain.plots import curves, logging_settings, predictions, sweep_curves
from dltrain.plots.predictions import FALSE_NEGATIVE, FALSE_POSITIVE, error_overlay


def _events(epochs: int, steps_per_epoch: int, every: int) -> list[dict[str, Any]]:
    """metrics.jsonl of a run: a step event every ``every`` steps, an epoch record each epoch;
    val/loss is best in the last epoch, where the train curve runs close above it."""
    events, step = [], 0
    for epoch in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            step += 1
            if step % every == 0:
                events.append({"epoch": epoch, "step": step, "train/loss": 2.0 / epoch})
        events.append({
            "epoch": epoch, "step": step, "train/loss": 1.8 / epoch, "val/loss": 1.7 / epoch,
            "lr": 1e-3, "epoch_seconds": 1.0, "images_per_sec": 100.0,
        })  # fmt: skip
    return events


def _captured(monkeypatch, module: Any, draw: bool = False) -> list[Any]:
    """The figures ``module`` saves, instead of PNG files (``draw``: laid out and drawn by
    Agg, for their bounding boxes)."""
    figures: list[Any] = []

    def keep(figure: Any, path: Path) -> Path:
        if draw:
            FigureCanvasAgg(figure).draw()
        figures.append(figure)
        return path

    monkeypatch.setattr(module, "save", keep)
    return figures


def _legend_texts(figure: Any) -> list[str]:
    legends = [*figure.legends, *(a.get_legend() for a in figure.axes if a.get_legend())]
    return [text.get_text() for legend in legends for text in legend.get_texts()]


@pytest.mark.parametrize(
    ("epochs", "per_epoch", "every", "configured", "label"),
    [
        (1, 60, 50, 50, "train (every 50 steps)"),  # one step event: nothing to read a gap from
        (3, 120, 50, 50, "train (every 50 steps)"),
        (3, 120, 50, None, "train (every 50 steps)"),  # no config.yaml: the events' gaps
        (2, 3, 1, 1, "train (every step)"),
        (1, 60, 50, None, "train (logged steps)"),  # neither: no made-up number
    ],
)
def test_step_legend_names_the_logging_interval(
    monkeypatch, epochs: int, per_epoch: int, every: int, configured: int | None, label: str
) -> None:
    figures = _captured(monkeypatch, curves)
    events = _events(epochs, per_epoch, every)
    epoch_records, steps = curves.split_events(events)
    curves.plot_metric(epoch_records, steps, "loss", Path("loss.png"), configured)
    assert label in _legend_texts(figures[0])


def test_the_run_folder_gives_its_logging_interval(tmp_path: Path) -> None:
    config = {"logging": {"every_n_steps": 50}, "scheduler": {"name": "step", "interval": "step"}}
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(config))
    assert logging_settings(tmp_path) == ("step", 50)
    assert logging_settings(tmp_path / "nowhere") == ("epoch", None)


@pytest.mark.parametrize("name", ["loss", "accuracy"])
def test_best_value_label_sits_clear_of_the_lines(monkeypatch, name: str) -> None:
    figures = _captured(monkeypatch, curves, draw=True)
    events = _events(6, 40, 10)
    if name == "accuracy":  # best val at the last epoch, in the top right corner
        for event in events:
            if "val/loss" in event:
                event["train/accuracy"] = 1 - 0.5 / event["epoch"]
                event["val/accuracy"] = 1 - 0.45 / event["epoch"]
    epoch_records, steps = curves.split_events(events)
    curves.plot_metric(epoch_records, steps, name, Path(f"{name}.png"), 10)
    figure = figures[0]
    axes, renderer = figure.axes[0], figure.canvas.get_renderer()
    labels = [t for t in figure.findobj(Text) if t.get_text().startswith("best val")]
    assert [t.get_text() for t in labels] == [
        "best val 0.2833 at epoch 6" if name == "loss" else "best val 0.925 at epoch 6"
    ]
    box = labels[0].get_window_extent(renderer)
    assert not box.overlaps(axes.get_window_extent(renderer))  # lines are clipped to the axes
    for line in axes.get_lines():
        points = line.get_transform().transform(line.get_xydata())
        assert not any(box.contains(x, y) for x, y in points), line.get_label()


def test_gallery_marks_false_positives_and_negatives(monkeypatch, tmp_path: Path) -> None:
    truth = np.zeros((1, 8, 8), dtype=np.int64)
    truth[:, 2:6, 2:6] = 1
    predicted = truth.copy()
    predicted[:, 0, 0] = 1  # a false positive
    predicted[:, 3, 3] = 0  # a false negative
    images = np.full((1, 8, 8), 0.5)
    overlay = error_overlay(images[0], truth[0], predicted[0])
    assert tuple(overlay[0, 0]) == to_rgb(FALSE_POSITIVE)
    assert tuple(overlay[3, 3]) == to_rgb(FALSE_NEGATIVE)
    wrong = {to_rgb(FALSE_POSITIVE), to_rgb(FALSE_NEGATIVE)}
    right = [
        tuple(overlay[y, x]) for y in range(8) for x in range(8) if (y, x) not in {(0, 0), (3, 3)}
    ]
    assert not wrong.intersection(right)
    path = predictions.plot_segmented(images, truth, predicted, "samples", tmp_path / "s.png")
    from PIL import Image

    pixels = {tuple(p) for p in np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)}
    for colour in (FALSE_POSITIVE, FALSE_NEGATIVE):
        assert tuple(round(c * 255) for c in to_rgb(colour)) in pixels, colour
    figures = _captured(monkeypatch, predictions)
    predictions.plot_segmented(images, truth, predicted, "samples", tmp_path / "s.png")
    assert _legend_texts(figures[0]) == [
        "false positive: predicted, not true",
        "false negative: true, missed",
    ]


def _visible_ticks(axes: Any) -> list[float]:
    low, high = axes.get_xlim()
    return [tick for tick in axes.get_xticks() if low <= tick <= high]


@pytest.mark.parametrize("epochs", [1, 2, 12])
def test_epoch_ticks_are_whole_numbers(monkeypatch, tmp_path: Path, epochs: int) -> None:
    """report.png (a sweep of 1-epoch jobs: matplotlib's ticks were 0.96, 0.98, ...) and the
    run's curves."""
    job = tmp_path / "0"
    job.mkdir()
    lines = [json.dumps(e) for e in _events(epochs, 4, 2)]
    (job / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    figures = _captured(monkeypatch, sweep_curves)
    jobs = [SimpleNamespace(folder=job, overrides="optimizer.lr=0.1", name="0", status="completed")]
    sweep_curves.plot_curves(jobs, "val/loss", tmp_path / "report.png")
    run_figures = _captured(monkeypatch, curves)
    curves.plot_curves(job / "metrics.jsonl", tmp_path / "plots", "epoch", 2)
    for figure in [*figures, *run_figures]:
        ticks = _visible_ticks(figure.axes[0])
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    if epochs == 1:
        assert _visible_ticks(figures[0].axes[0]) == [1.0]
