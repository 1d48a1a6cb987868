"""Fake data in the real on-disk formats, for tests and benchmarks: no downloads needed.

Each writer produces small learnable files that dltrain's (and torchvision's) readers read
as they would the real data set:

- ``write_fake_mnist``: the four IDX files of FashionMNIST / MNIST (torchvision's raw layout);
- ``write_fake_cifar10``: CIFAR-10's python pickle batches;
- ``write_fake_csv``: a Kaggle-layout CSV (``label,pixel1,...``);
- ``write_fake_imagefolder``: ``root/<split>/<class>/<i>.png|.jpg``.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dltrain.data.checks import CIFAR10_FOLDER, CIFAR10_TEST, CIFAR10_TRAIN, raw_folder
from dltrain.data.cifar import LABEL_NAMES

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


def write_fake_cifar10(
    root: str | Path, train_size: int = 500, test_size: int = 100, seed: int = 0
) -> Path:
    """Five training batches, a test batch and batches.meta, pickled as the real files are."""
    folder = Path(root) / CIFAR10_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(1234).integers(0, 256, size=(10, 3072))

    def batch(count: int, label: str) -> dict[str, Any]:
        labels = rng.integers(0, 10, size=count)
        noise = rng.normal(0.0, 40.0, size=(count, 3072))
        data = np.clip(prototypes[labels] + noise, 0, 255).astype(np.uint8)
        names = [f"fake_{label}_{i}.png" for i in range(count)]
        return {"batch_label": label, "labels": labels.tolist(), "data": data, "filenames": names}

    sizes = [len(part) for part in np.array_split(np.arange(train_size), len(CIFAR10_TRAIN))]
    for name, count in zip(CIFAR10_TRAIN, sizes, strict=True):
        _dump(folder / name, batch(count, name))
    _dump(folder / CIFAR10_TEST[0], batch(test_size, "test batch"))
    _dump(folder / "batches.meta", {"label_names": LABEL_NAMES, "num_vis": 3072})
    return folder


def _dump(path: Path, obj: dict[str, Any]) -> None:
    with open(path, "wb") as file:
        pickle.dump(obj, file, protocol=4)


def write_fake_csv(
    path: str | Path, count: int = 300, seed: int = 0, style: str = "patterns"
) -> Path:
    """A Kaggle-layout CSV of 28x28 fakes (see FAKES) with its header row."""
    images, labels = FAKES[style](count, 10, np.random.default_rng(seed))
    table = np.concatenate([labels[:, None], images.reshape(count, -1)], axis=1)
    header = "label," + ",".join(f"pixel{i}" for i in range(1, 785))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, table, fmt="%d", delimiter=",", header=header, comments="")
    return path


def write_fake_imagefolder(
    root: str | Path,
    classes: Sequence[str] = ("cat", "dog", "frog"),
    per_class: int = 12,
    splits: Sequence[str] = ("train", "val", "test"),
    mode: str = "RGB",
    seed: int = 0,
) -> Path:
    """``root/<split>/<class>/<i>.png|.jpg``: a colour per class plus noise, in varied sizes."""
    rng = np.random.default_rng(seed)
    colours = np.random.default_rng(1234).integers(30, 226, size=(len(classes), 3))
    for split in splits:
        for label, name in enumerate(classes):
            folder = Path(root) / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                height, width = rng.integers(20, 48, size=2)
                noise = rng.normal(0.0, 25.0, size=(height, width, 3))
                pixels = np.clip(colours[label] + noise, 0, 255).astype(np.uint8)
                suffix = ".png" if i % 2 == 0 else ".jpg"
                Image.fromarray(pixels, "RGB").convert(mode).save(folder / f"{i}{suffix}")
    return Path(root)
