"""Class labels read from data files: as many as the images, each one of data.num_classes."""

from __future__ import annotations

import numpy as np

from dltrain.errors import UserError


def check_count(images: int, labels: int, images_file: str, labels_file: str, fix: str) -> None:
    """Images and labels pair up one to one; a mismatch means files from different releases."""
    if images != labels:
        raise UserError(
            f"{images_file} holds {images} images but {labels_file} holds {labels} labels: "
            f"the two must come from the same release. {fix}"
        )


def check_range(labels: np.ndarray, num_classes: int, source: str) -> None:
    """Every label is a class index in 0..num_classes-1 (a model has num_classes outputs)."""
    if not len(labels):
        return
    low, high = int(labels.min()), int(labels.max())
    if low >= 0 and high < num_classes:
        return
    outside = int(np.count_nonzero((labels < 0) | (labels >= num_classes)))
    fix = "Labels are class indices 0..N-1: correct them in the file"
    if low >= 0:
        fix = f"Set data.num_classes={high + 1} if the data has {high + 1} classes, or correct them"
    raise UserError(
        f"{source} has {outside} label(s) outside 0..{num_classes - 1} (data.num_classes="
        f"{num_classes}); its labels span {low}..{high}. {fix}."
    )
