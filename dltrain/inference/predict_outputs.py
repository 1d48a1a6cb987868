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

import numpy as np
import torch
from PIL import Image

from dltrain.inference.trained import Trained, class_names, segmentation_masks


class PredictionTable:
    def __init__(self, trained: Trained, folder: Path) -> None:
        self.task, self.folder = trained.task, folder
        self.names = class_names(trained.cfg["data"], trained.cfg["data"].get("num_classes") or 0)
        self.rows: list[dict[str, Any]] = []
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def count(self) -> int:
        return len(self.rows)

    def add(
        self,
        files: list[str],
        outputs: torch.Tensor,
        targets: torch.Tensor | None,
        sizes: list[tuple[int, int]],
    ) -> None:
        """One batch; ``sizes``: each image file's (width, height), for masks at that size."""
        if self.task == "classification":
            rows = self._classes(outputs, targets)
        elif self.task == "segmentation":
            rows = self._masks(files, outputs, sizes)
        else:
            rows = self._values(outputs, targets)
        self.rows += [{"file": name, **row} for name, row in zip(files, rows, strict=True)]

    def _classes(self, outputs: torch.Tensor, targets: torch.Tensor | None) -> list[dict]:
        probability, predicted = outputs.softmax(dim=1).max(dim=1)
        rows = []
        for i, (p, c) in enumerate(zip(probability.tolist(), predicted.tolist(), strict=True)):
            row = {"class": c, "label": self._label(c), "probability": round(p, 6)}
            if targets is not None:
                row.update(target=int(targets[i]), target_label=self._label(int(targets[i])))
            rows.append(row)
        return rows

    def _label(self, index: int) -> str:
        return self.names[index] if 0 <= index < len(self.names) else str(index)

    def _masks(self, files: list[str], outputs: torch.Tensor, sizes: list) -> list[dict]:
        masks = segmentation_masks(outputs).numpy()
        binary = outputs.shape[1] == 1
        rows = []
        for i, (name, mask) in enumerate(zip(files, masks, strict=True)):
            picture = Image.fromarray((mask * 255 if binary else mask).astype(np.uint8), "L")
            if sizes and picture.size != tuple(sizes[i]):
                picture = picture.resize(tuple(sizes[i]), Image.Resampling.NEAREST)
            path = self.folder / "masks" / _mask_name(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            picture.save(path)
            share = float((np.asarray(picture) > 0).mean())
            rows.append({"mask": str(path.relative_to(self.folder)), "foreground": round(share, 6)})
        return rows

    def _values(self, outputs: torch.Tensor, targets: torch.Tensor | None) -> list[dict]:
        values = outputs.reshape(len(outputs), -1).tolist()
        truth = targets.reshape(len(targets), -1).tolist() if targets is not None else None
        rows = []
        for i, row_values in enumerate(values):
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
