"""``dltrain shard SRC OUT``: the formats dltrain reads, written as WebDataset tar shards.

SRC is an image folder (``train/``, ``val/``, ``test/`` of class sub-folders, or class
sub-folders alone), a folder of MNIST-family IDX files (as torchvision lays them out) or a
Kaggle-layout CSV file; everything is read and checked by the readers dltrain's data sets use
(data/formats) before OUT is created. Each split becomes ``OUT/<split>-000000.tar``, ... of
``shard_size`` samples, shuffled once (seed 0) so that a shard mixes the classes, plus
``OUT/dataset.json``: the sample count of every shard, the classes, the image shape and the
per-channel mean and std, so a run knows its steps per epoch without reading a shard.
``format=hf`` writes a Hugging Face ``datasets`` folder (``save_to_disk``) instead. The tars are
written with webdataset's ``TarWriter``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dltrain.data.checks import IMAGE_EXTENSIONS, image_classes, image_files
from dltrain.data.formats import csv_table, idx
from dltrain.data.formats.image_files import verify_image
from dltrain.data.streaming.shard_files import METADATA, requirement
from dltrain.errors import UserError

STATS_SAMPLE = 2000  # image-folder images that estimate the mean and std
ANY_LABEL = 2**31  # the readers check labels against a class count; SRC brings its own
IDX_FOLDERS = ("", "raw", "FashionMNIST/raw", "MNIST/raw")


@dataclass
class Split:
    """One split of SRC: its samples as (image bytes or array, label), read when written."""

    size: int
    record: Callable[[int], tuple[np.ndarray | Path, int]]


@dataclass
class Source:
    kind: str
    splits: dict[str, Split]
    classes: list[str]
    channels: int
    shape: list[int] | None = None  # C, H, W when every image has one size
    stats: tuple[list[float], list[float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def open_source(src: Path, split_name: str, channels: int) -> Source:
    """SRC as splits of samples, checked by dltrain's readers (exit 2 naming the problem)."""
    if src.is_file() and src.suffix.lower() == ".csv":
        return _csv(src, split_name, channels)
    if src.is_dir():
        for sub in IDX_FOLDERS:
            if (src / sub / idx.SPLITS["train"][0]).is_file():
                return _idx(src / sub)
        if (src / "train").is_dir():
            return _folder({s: src / s for s in ("train", "val", "test") if (src / s).is_dir()},
                           channels)  # fmt: skip
        if image_classes(src):
            return _folder({split_name: src}, channels)
    raise UserError(
        f"{src} is not a source dltrain shard reads: an image folder (train/, val/, test/ of "
        "class sub-folders, or class sub-folders), a folder of MNIST-family IDX files "
        f"(train-images-idx3-ubyte, ...) or a Kaggle-layout .csv file."
    )


def _arrays(images: np.ndarray, labels: np.ndarray) -> Split:
    return Split(len(labels), lambda i: (images[i], int(labels[i])))


def _array_stats(arrays: list[np.ndarray]) -> tuple[list[float], list[float]]:
    pixels = np.concatenate([a.reshape(len(a), a.shape[1], -1) for a in arrays]) / 255.0
    mean = pixels.mean(axis=(0, 2))
    std = np.maximum(pixels.std(axis=(0, 2)), 1e-3)
    return mean.tolist(), std.tolist()


def _idx(folder: Path) -> Source:
    splits, arrays, high = {}, [], 0
    for split in idx.SPLITS:
        images, labels = idx.read_split(folder, split, ANY_LABEL)
        images = images[:, None]  # N x 1 x H x W
        splits[split], high = _arrays(images, labels), max(high, int(labels.max(initial=0)))
        arrays.append(images)
    shape = list(arrays[0].shape[1:])
    return Source("idx", splits, [str(c) for c in range(high + 1)], 1, shape,
                  _array_stats(arrays[:1]))  # fmt: skip


def _csv(path: Path, split_name: str, channels: int) -> Source:
    images, labels = csv_table.read_csv(path, channels, ANY_LABEL)
    classes = [str(c) for c in range(int(labels.max(initial=0)) + 1)]
    split = _arrays(images, labels)
    return Source("csv", {split_name: split}, classes, channels, list(images.shape[1:]),
                  _array_stats([images]))  # fmt: skip


def _folder(folders: Mapping[str, Path], channels: int) -> Source:
    classes = image_classes(next(iter(folders.values())))
    splits = {}
    for split, folder in folders.items():
        records = []
        for label, name in enumerate(classes):
            for path in image_files(folder / name) if (folder / name).is_dir() else []:
                verify_image(path)
                records.append((path, label))
        unknown = sorted(set(image_classes(folder)) - set(classes))
        if unknown or not records:
            problem = f"classes the training folder lacks: {unknown}" if unknown else "no images"
            raise UserError(f"{folder} has {problem} ({', '.join(IMAGE_EXTENSIONS)}).")
        splits[split] = Split(len(records), records.__getitem__)
    return Source("imagefolder", splits, classes, channels)


def encode_png(array: np.ndarray) -> bytes:
    """A C x H x W (or H x W) uint8 array as PNG bytes (grey or RGB)."""
    image = array if array.ndim == 2 else np.moveaxis(array, 0, -1)
    image = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def sample_files(
    record: tuple[np.ndarray | Path, int], channels: int, mask_threshold: float | None
) -> dict[str, bytes]:
    """The files of one sample: the image (a file's own bytes, an array as PNG), its class,
    and with ``mask_threshold`` the mask (pixels above it, as a 0/255 PNG)."""
    image, label = record
    files: dict[str, bytes] = {"cls": str(label).encode()}
    if isinstance(image, Path):
        extension = image.suffix.lower().lstrip(".").replace("jpeg", "jpg")
        files[extension] = image.read_bytes()
    else:
        files["png"] = encode_png(image)
    if mask_threshold is not None:
        pixels = _pixels(image, channels) if isinstance(image, Path) else image
        mask = (pixels.max(axis=0) / 255.0 > mask_threshold).astype(np.uint8) * 255
        files["mask.png"] = encode_png(mask)
    return files


def _pixels(path: Path, channels: int) -> np.ndarray:
    """An image file at its own size as a C x H x W uint8 array."""
    with Image.open(path) as opened:
        converted = opened.convert("L" if channels == 1 else "RGB")
        width, height = converted.size
        array = np.asarray(converted, dtype=np.uint8).reshape(height, width, -1)
    return np.moveaxis(array, -1, 0)


def _order(size: int, shuffle: bool) -> np.ndarray:
    return np.random.default_rng(0).permutation(size) if shuffle else np.arange(size)


def _folder_stats(source: Source, order: np.ndarray) -> tuple[list[float], list[float]]:
    """Mean and std of up to STATS_SAMPLE training images (each at its own size)."""
    split = next(iter(source.splits.values()))
    total = np.zeros(source.channels)
    squares, count = np.zeros(source.channels), 0
    for i in order[:STATS_SAMPLE]:
        path, _ = split.record(int(i))
        pixels = _pixels(path, source.channels).reshape(source.channels, -1).T / 255.0
        total, squares = total + pixels.sum(0), squares + (pixels**2).sum(0)
        count += len(pixels)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-6))
    return mean.tolist(), std.tolist()


def _records(split: Split, order: np.ndarray) -> Iterator[tuple[np.ndarray | Path, int]]:
    for i in order:
        yield split.record(int(i))


def write_tar_shards(
    out: Path, name: str, split: Split, shard_size: int, shuffle: bool, channels: int,
    mask_threshold: float | None,
) -> dict[str, Any]:  # fmt: skip
    """OUT/<name>-000000.tar, ...: ``shard_size`` samples each; their names and counts."""
    from webdataset import TarWriter

    shards, records = [], _records(split, _order(split.size, shuffle))
    for number, first in enumerate(range(0, split.size, shard_size)):
        path = out / f"{name}-{number:06d}.tar"
        count = min(shard_size, split.size - first)
        with TarWriter(str(path), encoder=False) as tar:
            for key in range(first, first + count):
                files = sample_files(next(records), channels, mask_threshold)
                tar.write({"__key__": f"{key:08d}", **files})
        shards.append({"file": path.name, "samples": count, "bytes": path.stat().st_size})
    return {"samples": split.size, "shards": shards}


def write_hf(out: Path, source: Source, shuffle: bool, mask_threshold: float | None) -> dict:
    """A Hugging Face datasets folder (save_to_disk): columns image, label (and mask)."""
    import tempfile

    from datasets import ClassLabel, Dataset, DatasetDict, Features
    from datasets import Image as ImageFeature

    columns = {"image": ImageFeature(), "label": ClassLabel(names=source.classes)}
    if mask_threshold is not None:
        columns["mask"] = ImageFeature()
    features, splits, summary = Features(columns), {}, {}

    def rows(split: Split, order: np.ndarray) -> Iterator[dict[str, Any]]:
        for record in _records(split, order):
            files = sample_files(record, source.channels, mask_threshold)
            image = next(v for k, v in files.items() if k not in ("cls", "mask.png"))
            row = {"image": {"bytes": image, "path": None}, "label": record[1]}
            if mask_threshold is not None:
                row["mask"] = {"bytes": files["mask.png"], "path": None}
            yield row

    with tempfile.TemporaryDirectory() as cache:
        for name, split in source.splits.items():
            order = _order(split.size, shuffle)
            splits[name] = Dataset.from_generator(
                rows, features=features, cache_dir=cache,
                gen_kwargs={"split": split, "order": order},
            )  # fmt: skip
            summary[name] = {"samples": split.size}
        DatasetDict(splits).save_to_disk(str(out))
    return summary


def write_shards(
    src: Path, out: Path, shard_size: int, output_format: str = "webdataset",
    shuffle: bool = True, mask_threshold: float | None = None, channels: int | None = None,
    split: str = "train",
) -> dict[str, Any]:  # fmt: skip
    """Write SRC's splits to OUT; the metadata written as OUT/dataset.json."""
    _check_options(out, shard_size, output_format, mask_threshold, channels)
    source = open_source(src, split, channels or (1 if src.suffix.lower() == ".csv" else 3))
    first = next(iter(source.splits.values()))
    stats = source.stats or _folder_stats(source, _order(first.size, shuffle))
    out.mkdir(parents=True, exist_ok=True)
    if output_format == "hf":
        splits = write_hf(out, source, shuffle, mask_threshold)
    else:
        splits = {
            name: write_tar_shards(
                out, name, part, shard_size, shuffle, source.channels, mask_threshold
            )  # fmt: skip
            for name, part in source.splits.items()
        }
    metadata = {
        "format": output_format, "written_by": "dltrain shard", "source": str(src),
        "classes": source.classes, "num_classes": len(source.classes),
        "shape": source.shape or [source.channels, None, None], "mean": stats[0],
        "std": stats[1], "mask": mask_threshold is not None, "splits": splits,
    }  # fmt: skip
    (out / METADATA).write_text(json.dumps(metadata, indent=1))
    return metadata


def _check_options(
    out: Path, shard_size: int, output_format: str, mask: float | None, channels: int | None
) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"out={out} exists and is not an empty folder: pick a new folder.")
    if shard_size < 1:
        raise UserError(f"shard_size must be 1 or more samples, got {shard_size}.")
    if output_format not in ("webdataset", "hf"):
        raise UserError(f"format must be webdataset or hf, got '{output_format}'.")
    if mask is not None and not 0.0 <= mask < 1.0:
        raise UserError(f"mask_threshold is a pixel intensity in [0, 1), got {mask}.")
    if channels not in (None, 1, 3):
        raise UserError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}.")
    requirement("datasets" if output_format == "hf" else "webdataset")
