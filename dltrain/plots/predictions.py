"""What the trained model predicts: confusion matrix, sample grids, predicted vs true values.

Inputs are shown as the model saw them, un-normalised with the data set's own mean and std.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dltrain.plots.figures import new_figure, save

RIGHT, WRONG = "#2ca02c", "#d62728"


def confusion_counts(targets: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """K x K counts: row = true class, column = predicted class."""
    flat = targets.astype(np.int64) * classes + predicted.astype(np.int64)
    return np.bincount(flat, minlength=classes * classes).reshape(classes, classes)


def plot_confusion(counts: np.ndarray, names: Sequence[str], title: str, path: Path) -> Path:
    """Rows normalised to the share of each true class (colour), counts written in the cells."""
    classes = len(names)
    side = min(max(4.6, 0.45 * classes + 2.2), 16.0)
    figure = new_figure(side + 1.0, side)
    axes = figure.add_subplot()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    if classes <= 30:
        for row in range(classes):
            for col in range(classes):
                if counts[row, col]:
                    colour = "white" if shares[row, col] > 0.5 else "black"
                    axes.text(col, row, str(counts[row, col]), ha="center", va="center",
                              fontsize=8 if classes <= 12 else 6, color=colour)  # fmt: skip
        tilt = {"rotation": 45, "ha": "right"} if max(map(len, names)) > 2 else {}
        axes.set_xticks(range(classes), names, fontsize=8, **tilt)
        axes.set_yticks(range(classes), names, fontsize=8)
    axes.set(xlabel="predicted class", ylabel="true class", title=title)
    return save(figure, path)


def displayable(images: np.ndarray, mean: np.ndarray | None, std: np.ndarray | None) -> np.ndarray:
    """N x C x H x W model inputs -> N x H x W (grey) or N x H x W x 3 (colour) in [0, 1]."""
    if mean is not None and std is not None:
        images = images * std.reshape(1, -1, 1, 1) + mean.reshape(1, -1, 1, 1)
    else:  # unknown scaling: stretch each image to [0, 1]
        low = images.min(axis=(1, 2, 3), keepdims=True)
        images = (images - low) / np.maximum(images.max(axis=(1, 2, 3), keepdims=True) - low, 1e-8)
    images = np.clip(images, 0.0, 1.0)
    return images.transpose(0, 2, 3, 1) if images.shape[1] == 3 else images[:, 0]


def plot_classified(
    images: np.ndarray,
    targets: np.ndarray,
    predicted: np.ndarray,
    confidence: np.ndarray,
    names: Sequence[str],
    title: str,
    path: Path,
) -> Path:
    """A grid of images titled true / predicted (probability): green right, red wrong."""
    count = len(images)
    cols = min(count, 8 if count > 16 else 4)
    rows = -(-count // cols)
    figure = new_figure(2.0 * cols, 2.15 * rows + 0.4)
    figure.suptitle(title, fontsize=10)
    for index in range(count):
        axes = figure.add_subplot(rows, cols, index + 1)
        axes.imshow(images[index], cmap="gray" if images.ndim == 3 else None, vmin=0, vmax=1)
        right = targets[index] == predicted[index]
        axes.set_title(
            f"true {names[targets[index]]}\npred {names[predicted[index]]} "
            f"({confidence[index]:.0%})",
            fontsize=8,
            color=RIGHT if right else WRONG,
        )
        axes.set_axis_off()
    return save(figure, path)


def plot_segmented(
    images: np.ndarray, truth: np.ndarray, predicted: np.ndarray, title: str, path: Path
) -> Path:
    """One row per sample: input, true mask, predicted mask (with that sample's Dice), and the
    input with its wrong pixels marked (``error_overlay``), one legend for the two colours."""
    count = len(images)
    figure = new_figure(9.2, 2.3 * count + 0.7)
    figure.suptitle(title, fontsize=10)
    top = max(int(truth.max(initial=0)), int(predicted.max(initial=0)), 1)
    for row in range(count):
        dice = sample_dice(truth[row], predicted[row])
        panels = (
            (images[row], "input", "gray" if images.ndim == 3 else None, 1),
            (truth[row], "true mask", "viridis", top),
            (predicted[row], f"predicted (Dice {dice:.2f})", "viridis", top),
            (error_overlay(images[row], truth[row], predicted[row]), "wrong pixels", None, 1),
        )
        for col, (picture, label, cmap, vmax) in enumerate(panels):
            axes = figure.add_subplot(count, 4, row * 4 + col + 1)
            axes.imshow(picture, cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")
            axes.set_title(label, fontsize=8)
            axes.set_axis_off()
    from matplotlib.patches import Patch

    handles = [Patch(color=FALSE_POSITIVE, label="false positive: predicted, not true")]
    handles.append(Patch(color=FALSE_NEGATIVE, label="false negative: true, missed"))
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8)
    return save(figure, path)


# The wrong pixels of a segmentation, painted over the dimmed input: two colours that no grey
# input and neither colour-blind red-green confusion can hide.
FALSE_POSITIVE, FALSE_NEGATIVE = "#ff00ff", "#00bfff"  # magenta, deep sky blue


def error_overlay(image: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """H x W x 3 in [0, 1]: the input (grey or colour), dimmed, with false positives (predicted
    foreground where the truth differs: a wrong class counts too) and false negatives (true
    foreground predicted as background) in their colours."""
    from matplotlib.colors import to_rgb

    base = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)
    overlay = 0.25 + 0.5 * np.clip(base.astype(np.float64), 0.0, 1.0)
    overlay[(predicted > 0) & (predicted != truth)] = to_rgb(FALSE_POSITIVE)
    overlay[(truth > 0) & (predicted == 0)] = to_rgb(FALSE_NEGATIVE)
    return overlay


def sample_dice(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Dice of the foreground (every class but 0) of one sample; 1.0 when both are empty."""
    t, p = truth > 0, predicted > 0
    total = t.sum() + p.sum()
    return 1.0 if total == 0 else float(2 * (t & p).sum() / total)


def plot_regression(targets: np.ndarray, outputs: np.ndarray, title: str, path: Path) -> Path:
    """Predicted against true values, with the line a perfect model would sit on."""
    figure = new_figure(4.8, 4.6)
    axes = figure.add_subplot()
    t, o = targets.reshape(-1), outputs.reshape(-1)
    axes.scatter(t, o, s=8, alpha=0.5, color="#1f77b4")
    low, high = float(min(t.min(), o.min())), float(max(t.max(), o.max()))
    axes.plot([low, high], [low, high], color="grey", ls="--", lw=1, label="predicted = true")
    axes.set(xlabel="true value", ylabel="predicted value", title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return save(figure, path)
