"""The IDX file format of the MNIST family, and small learnable fakes of those data sets.

Tests and benchmarks write FashionMNIST-format files with ``write_fake_mnist`` so the real
torchvision loader reads them: no download needed on machines without internet.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from dltrain.data.checks import raw_folder

_UBYTE = 0x08


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file.

    Magic: two zero bytes, type 0x08, ndim; then the dims as big-endian uint32.
    """
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, _UBYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def fake_images(
    count: int, classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 images: a fixed random pattern per class plus noise, so a model can learn."""
    prototypes = np.random.default_rng(1234).random((classes, 28, 28)) > 0.5
    labels = rng.integers(0, classes, size=count)
    noise = rng.normal(0.0, 60.0, size=(count, 28, 28))
    images = np.clip(prototypes[labels] * 120.0 + 60.0 + noise, 0, 255)
    return images.astype(np.uint8), labels.astype(np.uint8)


def fake_garments(
    count: int, classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 "garments": a class silhouette at a random offset on a black background.

    Foreground pixels are 40..255 and background 0..11, so any mask threshold between 0.05 and
    0.15 gives exactly the silhouette: segmentation targets with a known answer.
    """
    grids = np.random.default_rng(4321).random((classes, 6, 6)) > 0.45
    silhouettes = np.kron(grids, np.ones((4, 4), dtype=bool))  # classes x 24 x 24
    labels = rng.integers(0, classes, size=count)
    shifts = rng.integers(0, 5, size=(count, 2))
    foreground = np.zeros((count, 28, 28), dtype=bool)
    for i, (dy, dx) in enumerate(shifts):
        foreground[i, dy : dy + 24, dx : dx + 24] = silhouettes[labels[i]]
    brightness = rng.uniform(60.0, 255.0, size=(count, 1, 1))
    garment = np.clip(brightness + rng.normal(0.0, 20.0, size=(count, 28, 28)), 40, 255)
    background = rng.integers(0, 12, size=(count, 28, 28))
    images = np.where(foreground, garment, background)
    return images.astype(np.uint8), labels.astype(np.uint8)


FAKES = {"patterns": fake_images, "garments": fake_garments}


def write_fake_mnist(
    root: str | Path,
    train_size: int = 600,
    test_size: int = 200,
    dataset_class: str = "FashionMNIST",
    seed: int = 0,
    style: str = "patterns",
) -> Path:
    """Write the four IDX files torchvision expects under ``root/<dataset_class>/raw``.

    ``style``: "patterns" (a noisy pattern per class) or "garments" (silhouettes on black, for
    segmentation). ``dataset_class``: FashionMNIST or MNIST (same format, other folder).
    """
    folder = raw_folder(str(root), dataset_class)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, count in (("train", train_size), ("t10k", test_size)):
        images, labels = FAKES[style](count, 10, rng)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return folder
