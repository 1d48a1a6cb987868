"""Images in CSV files, the Kaggle fashion-mnist layout: a header row, then per row the label
and the image's pixels (``label,pixel1,...,pixel784``; row-major, channels last for RGB).

``scan_csv`` is the cheap pass a preflight affords (row widths and labels, no pixel parsing);
``read_csv`` parses everything with numpy. Both check the labels against data.num_classes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dltrain.data.formats.labels import check_range
from dltrain.errors import UserError


def read_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as file:
        return file.readline().strip().split(",")


def image_side(path: Path, channels: int) -> int:
    """The images' side, from a header of 'label' then channels x side x side pixel columns."""
    header = read_header(path)
    side = math.isqrt(max(len(header) - 1, 0) // channels)
    if header[0] != "label" or side == 0 or channels * side * side != len(header) - 1:
        raise UserError(
            f"{path} is not in the Kaggle layout: the header must be 'label' then {channels} "
            f"x side x side pixel columns; it starts {','.join(header[:3])} and has "
            f"{len(header)} columns."
        )
    return side


def scan_csv(path: Path, channels: int, num_classes: int) -> np.ndarray:
    """The labels, after checking that each row has the header's width and an integer label."""
    columns = len(read_header(path))
    labels = []
    with open(path, encoding="utf-8") as file:
        next(file)
        for number, line in enumerate(file, start=2):
            if not line.strip():
                continue
            first = line.split(",", 1)[0].strip()
            if line.count(",") != columns - 1 or not first.lstrip("-").isdigit():
                raise UserError(
                    f"{path} line {number} is not a label and {columns - 1} pixel values "
                    f"(it has {line.count(',') + 1} fields, the first '{first[:20]}'). Fix or "
                    "delete that row."
                )
            labels.append(int(first))
    labels_array = np.asarray(labels, dtype=np.int64)
    check_range(labels_array, num_classes, str(path))
    return labels_array


def read_csv(path: Path, channels: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images N x C x side x side (uint8) and labels N; pixels in 0..255, labels classes."""
    side = image_side(path, channels)
    columns = 1 + channels * side * side
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except ValueError as err:
        raise UserError(f"{path} has a row that is not {columns} integers: {err}") from None
    pixels = table[:, 1:]
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise UserError(f"{path}: pixel values must be integers in 0..255. Fix those rows.")
    check_range(table[:, 0], num_classes, str(path))
    images = pixels.astype(np.uint8).reshape(-1, side, side, channels).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images), table[:, 0]
