"""The prediction plots: the run's best checkpoint on a split, drawn per task."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from dltrain.errors import UserError
from dltrain.inference.trained import (
    CHECKPOINT_NAMES,
    Trained,
    class_names,
    load_trained,
    normalisation,
    predict_batches,
    segmentation_masks,
    split_dataset,
)
from dltrain.plots import predictions as draw

log = logging.getLogger("dltrain")
MAX_SEGMENTATION_ROWS = 8


def plot_predictions(
    ckpt: Path, folder: Path, split: str, samples: int, device: str, data_overrides: list[str]
) -> list[Path]:
    """The prediction plots of a run folder's best.pt (else last.pt) or of a checkpoint file."""
    ckpt = Path(ckpt)
    if ckpt.is_dir() and not any((ckpt / "checkpoints" / n).is_file() for n in CHECKPOINT_NAMES):
        raise UserError(
            f"{ckpt} has no checkpoints/best.pt or last.pt to predict with; "
            "pass predictions=false for the curves alone."
        )
    trained = load_trained(ckpt, device, data_overrides)
    try:
        split, dataset = split_dataset(trained, split)
    except UserError as err:
        raise UserError(f"{err} (predictions=false plots only the curves)") from None
    where = f"{split} split, {trained.path.name}"
    if trained.task == "classification":
        return _classification(trained, dataset, folder, samples, where)
    if trained.task == "segmentation":
        return _segmentation(trained, dataset, folder, min(samples, MAX_SEGMENTATION_ROWS), where)
    if trained.task == "regression":
        targets, outputs = [], []
        for _, target, output in predict_batches(trained, dataset):
            targets.append(target.numpy())
            outputs.append(output.numpy())
        title = f"predicted vs true ({where})"
        t, o = np.concatenate(targets), np.concatenate(outputs)
        return [draw.plot_regression(t, o, title, folder / "predictions.png")]
    log.warning(f"no prediction plots for the {trained.task} task")
    return []


def _display(trained: Trained, dataset: object, inputs: torch.Tensor) -> np.ndarray:
    stats = normalisation(dataset)
    mean, std = (s.numpy().reshape(-1) for s in stats) if stats else (None, None)
    return draw.displayable(inputs.float().numpy(), mean, std)


def _classification(
    trained: Trained, dataset: object, folder: Path, samples: int, where: str
) -> list[Path]:
    targets, predicted, confidence = [], [], []
    kept: dict[int, torch.Tensor] = {}  # inputs the grid may show, by sample index
    wrong_quota, wrong, seen = samples // 4, 0, 0
    for inputs, target, output in predict_batches(trained, dataset):
        conf, pred = output.softmax(dim=1).max(dim=1)
        targets.append(target.numpy())
        predicted.append(pred.numpy())
        confidence.append(conf.numpy())
        for i in range(len(inputs)):
            mistake = bool(pred[i] != target[i]) and wrong < wrong_quota
            wrong += mistake
            if seen + i < samples or mistake:
                kept[seen + i] = inputs[i]
        seen += len(inputs)
    t, p, c = np.concatenate(targets), np.concatenate(predicted), np.concatenate(confidence)
    classes = trained.cfg["data"].get("num_classes") or int(max(t.max(), p.max()) + 1)
    names = class_names(trained.cfg["data"], classes)
    counts = draw.confusion_counts(t, p, classes)
    accuracy = float((t == p).mean())
    title = f"confusion matrix ({where}): accuracy {accuracy:.1%} of {len(t)}"
    written = [draw.plot_confusion(counts, names, title, folder / "confusion_matrix.png")]
    pick = grid_indices(t, p, samples, sorted(kept))
    if pick and kept[pick[0]].ndim == 3:
        title = f"sample predictions ({where}): green right, red wrong"
        images = _display(trained, dataset, torch.stack([kept[i] for i in pick]))
        path = folder / "samples.png"
        written.append(draw.plot_classified(images, t[pick], p[pick], c[pick], names, title, path))
    return written


def grid_indices(targets: np.ndarray, predicted: np.ndarray, count: int, kept: list[int]) -> list:
    """The first ``count`` samples, with up to a quarter of the grid given to mistakes."""
    mistakes = [i for i in kept if targets[i] != predicted[i]][: count // 4]
    rest = [i for i in kept if i not in mistakes][: count - len(mistakes)]
    return sorted(mistakes + rest)


def _segmentation(
    trained: Trained, dataset: object, folder: Path, rows: int, where: str
) -> list[Path]:
    inputs, targets, outputs = next(iter(predict_batches(trained, dataset, rows, limit=rows)))
    if outputs.shape[1] > 1 and targets.ndim == 4 and targets.shape[1] == outputs.shape[1]:
        truth = targets.argmax(dim=1).numpy()  # one-hot targets
    else:
        truth = targets.reshape(len(targets), *targets.shape[-2:]).round().long().numpy()
    predicted = segmentation_masks(outputs).numpy()
    images = _display(trained, dataset, inputs)
    title = f"segmentation samples ({where})"
    return [draw.plot_segmented(images, truth, predicted, title, folder / "samples.png")]
