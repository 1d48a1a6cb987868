"""What a trained model predicts for a batch of inputs, by task: the one decoding of model
outputs that ``dltrain predict`` (predictions.csv, masks/) and ``dltrain.load(...).predict``
(this object) share.

classification: ``classes`` (N), ``probabilities`` (N x C, softmax), ``labels`` (class names)
segmentation:   ``masks``, one H x W uint8 array of class indices per input (one-channel
                models: 0/1), at the image file's own size, else the model's input size
regression:     ``values`` (N x K)
Every task: ``names`` (the file, ``split:INDEX`` or the row of an array), ``outputs`` (the raw
outputs: logits, mask logits or values, float32) and, for a split, ``targets``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from dltrain.inference.trained import segmentation_masks


@dataclass
class Predictions:
    """A trained model's predictions for N inputs (fields by task; see the module docstring).

    Example::

        predictions = dltrain.load("runs/digits").predict("my_digits/")
        for name, label, p in zip(predictions.names, predictions.labels,
                                  predictions.probabilities.max(axis=1)):
            print(name, label, p)
    """

    task: str
    names: list[str]
    outputs: np.ndarray
    classes: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    labels: list[str] | None = None
    masks: list[np.ndarray] | None = None
    values: np.ndarray | None = None
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def of_batch(
        cls,
        task: str,
        class_names: Sequence[str],
        names: list[str],
        outputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        sizes: Sequence[tuple[int, int]] = (),
    ) -> Predictions:
        """Decode one batch of outputs (float32, on the CPU); ``sizes``: each image file's
        (width, height), for masks at that size."""
        found = cls(task, list(names), outputs.numpy())
        found.targets = targets.numpy() if targets is not None else None
        if task == "classification":
            probabilities = outputs.softmax(dim=1)
            _, predicted = probabilities.max(dim=1)
            found.probabilities, found.classes = probabilities.numpy(), predicted.numpy()
            found.labels = [_label(class_names, int(c)) for c in found.classes]
        elif task == "segmentation":
            found.masks = _masks(outputs, list(sizes))
        else:
            found.values = outputs.reshape(len(outputs), -1).numpy()
        return found

    @classmethod
    def join(cls, task: str, parts: Sequence[Predictions]) -> Predictions:
        """One Predictions of the batches ``parts``, in order."""
        if not parts:
            return cls(task, [], np.zeros((0,), dtype=np.float32))

        def arrays(name: str) -> np.ndarray | None:
            got = [getattr(p, name) for p in parts]
            return None if got[0] is None else np.concatenate(got)

        def lists(name: str) -> list | None:
            got = [getattr(p, name) for p in parts]
            return None if got[0] is None else [item for part in got for item in part]

        return cls(
            task,
            lists("names") or [],
            np.concatenate([p.outputs for p in parts]),
            arrays("classes"),
            arrays("probabilities"),
            lists("labels"),
            lists("masks"),
            arrays("values"),
            arrays("targets"),
        )


def _label(class_names: Sequence[str], index: int) -> str:
    return class_names[index] if 0 <= index < len(class_names) else str(index)


def _masks(outputs: torch.Tensor, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Class-index masks, each at its image file's size (nearest neighbour) when known."""
    masks = []
    for i, mask in enumerate(segmentation_masks(outputs).numpy().astype(np.uint8)):
        if sizes and (mask.shape[1], mask.shape[0]) != tuple(sizes[i]):
            picture = Image.fromarray(mask).resize(tuple(sizes[i]), Image.Resampling.NEAREST)
            mask = np.asarray(picture)
        masks.append(mask)
    return masks
