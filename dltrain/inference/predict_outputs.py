"""What ``dltrain predict`` writes: predictions.csv, and one PNG mask per input (segmentation).

classification: file, class (index), label (name), probability (softmax of the top class)
segmentation:   file, mask (PNG path), foreground (share of pixels not class 0); masks are
                0/255 for one-channel models and class indices otherwise, at the input's size
regression:     file, prediction (prediction_0, ... for several outputs)
Split inputs (``input=test``) name rows ``test:INDEX`` and add the true target.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from PIL import Image

from dltrain.inference.predictions import Predictions
from dltrain.inference.trained import Trained


class PredictionTable:
    """predictions.csv (and the mask PNGs) of Predictions, batch by batch."""

    def __init__(self, trained: Trained, folder: Path) -> None:
        self.task, self.folder = trained.task, folder
        self.names = trained.class_names
        self.rows: list[dict[str, Any]] = []
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def count(self) -> int:
        return len(self.rows)

    def add(self, predictions: Predictions) -> None:
        """One batch's rows; segmentation masks are written as PNGs beside the table."""
        if self.task == "classification":
            rows = self._classes(predictions)
        elif self.task == "segmentation":
            rows = self._masks(predictions)
        else:
            rows = self._values(predictions)
        names = predictions.names
        self.rows += [{"file": name, **row} for name, row in zip(names, rows, strict=True)]

    def _classes(self, predictions: Predictions) -> list[dict]:
        assert predictions.probabilities is not None and predictions.labels is not None
        probability = predictions.probabilities.max(axis=1).tolist()
        rows = []
        for i, label in enumerate(predictions.labels):
            row = {"class": int(predictions.classes[i]), "label": label}
            row["probability"] = round(probability[i], 6)
            if predictions.targets is not None:
                target = int(predictions.targets[i])
                row.update(target=target, target_label=self._label(target))
            rows.append(row)
        return rows

    def _label(self, index: int) -> str:
        return self.names[index] if 0 <= index < len(self.names) else str(index)

    def _masks(self, predictions: Predictions) -> list[dict]:
        assert predictions.masks is not None
        binary = predictions.outputs.shape[1] == 1
        rows = []
        for name, mask in zip(predictions.names, predictions.masks, strict=True):
            path = self.folder / "masks" / _mask_name(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask * 255 if binary else mask).save(path)
            share = float((mask > 0).mean())
            rows.append({"mask": str(path.relative_to(self.folder)), "foreground": round(share, 6)})
        return rows

    def _values(self, predictions: Predictions) -> list[dict]:
        assert predictions.values is not None
        truth = predictions.targets
        truth = truth.reshape(len(truth), -1).tolist() if truth is not None else None
        rows = []
        for i, row_values in enumerate(predictions.values.tolist()):
            row = _columns("prediction", row_values)
            if truth is not None:
                row.update(_columns("target", truth[i]))
            rows.append(row)
        return rows

    def finish(self) -> Path:
        path = self.folder / "predictions.csv"
        columns: list[str] = []
        for row in self.rows:
            columns += [key for key in row if key not in columns]
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, columns or ["file"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)
        return path


def _mask_name(name: str) -> Path:
    """``test:17`` -> test_000017.png (sorts in order); ``sub/a.jpg`` -> sub/a.png."""
    split, colon, index = name.partition(":")
    if colon and index.isdigit():
        return Path(f"{split}_{int(index):06d}.png")
    return Path(name).with_suffix(".png")


def _columns(prefix: str, values: list[float]) -> dict[str, float]:
    if len(values) == 1:
        return {prefix: values[0]}
    return {f"{prefix}_{i}": value for i, value in enumerate(values)}
