"""A trained model's predictions (``dltrain predict``, dltrain/cli/predict.py).

Image files (PNG, JPEG, ...) become model inputs the way training data did: converted to the
model's channels (grey or RGB), resized to ``data.shape``, normalised with the data set's mean
and std (from the saved config, or from the data set itself when the config says "the data
set's own statistics"). Writes OUTPUT/predictions.csv, plus OUTPUT/masks/*.png for segmentation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dltrain.errors import UserError
from dltrain.inference.predict_outputs import PredictionTable
from dltrain.inference.trained import (
    Trained,
    data_loader,
    normalisation,
    split_dataset,
)

SPLITS = ("test", "val", "train")
Batch = tuple[list[str], torch.Tensor, torch.Tensor | None, list[tuple[int, int]]]


def check_source(source: str) -> None:
    """An image file, a folder, or a split name (before any model is loaded)."""
    if source not in SPLITS and not Path(source).expanduser().exists():
        raise UserError(
            f"input={source} is neither an image file, a folder of images, nor a split "
            f"({', '.join(SPLITS)}). Check the path."
        )


def predict(
    trained: Trained, source: str, output: Path | None = None, batch_size: int = 64
) -> tuple[Path, int]:
    """Predictions on image files, a folder of images or a split; (predictions.csv, count).

    ``output``: the folder (default: RUN_DIR/predictions/<input name>).
    """
    if batch_size < 1:
        raise UserError(f"batch_size must be 1 or more, got {batch_size}.")
    check_source(source)
    name = source if source in SPLITS else Path(source).expanduser().stem or "input"
    table = PredictionTable(trained, Path(output or trained.run_dir / "predictions" / name))
    if source in SPLITS:
        batches = _split_batches(trained, source, batch_size)
    else:
        batches = _file_batches(trained, Path(source).expanduser(), batch_size)
    for names, inputs, targets, sizes in batches:
        table.add(names, trained.forward(inputs), targets, sizes)
    return table.finish(), table.count


def _split_batches(trained: Trained, split: str, batch_size: int) -> Iterator[Batch]:
    split, dataset = split_dataset(trained, split)
    index = 0
    for inputs, targets in data_loader(trained, dataset, batch_size):
        names = [f"{split}:{i}" for i in range(index, index + len(inputs))]
        index += len(inputs)
        yield names, inputs, targets, []


def _file_batches(trained: Trained, source: Path, batch_size: int) -> Iterator[Batch]:
    from dltrain.data.checks import IMAGE_EXTENSIONS, image_files

    shape = trained.input_shape
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise UserError(
            f"this model takes inputs of shape {shape}, not grey or RGB images: "
            "predict on a split of its data set instead (input=test)."
        )
    files = image_files(source) if source.is_dir() else [source]
    if not files:
        raise UserError(
            f"{source} holds no image files ({', '.join(IMAGE_EXTENSIONS)}). Point input at "
            "an image or a folder of images."
        )
    mean, std = image_normalisation(trained)
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        pixels, sizes = zip(*(read_image(p, shape) for p in chunk), strict=True)
        inputs = (torch.stack(pixels) - mean) / std
        names = [str(p.relative_to(source)) if source.is_dir() else p.name for p in chunk]
        yield names, inputs, None, list(sizes)


def read_image(path: Path, shape: list[int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """C x H x W floats in [0, 1] at the model's size, and the file's own (width, height)."""
    channels, height, width = shape
    try:
        with Image.open(path) as image:
            size = image.size
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.float32).reshape(height, width, channels) / 255.0
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"cannot read image {path}: {err}. Pass PNG or JPEG files.") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1), size


def image_normalisation(trained: Trained) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and std (C x 1 x 1) the model's training inputs were normalised with."""
    data = trained.cfg["data"]
    channels = trained.input_shape[0]
    if not data.get("normalize", True):
        return torch.zeros(channels, 1, 1), torch.ones(channels, 1, 1)
    if data.get("mean") and data.get("std"):
        mean, std = torch.tensor(data["mean"]), torch.tensor(data["std"])
        return mean.view(-1, 1, 1), std.view(-1, 1, 1)
    try:
        _, dataset = split_dataset(trained, "train")
    except UserError as err:
        raise UserError(
            f"the model was trained on inputs normalised with data '{data['name']}''s own mean "
            f"and std, and that data is not available here to read them from ({err}) Point "
            "data.root (or data.train_dir, data.train_file) at it, or pass data.mean=[...] "
            "data.std=[...] (one value per channel)."
        ) from None
    stats = normalisation(dataset)
    if stats is None:
        raise UserError(f"data '{data['name']}' does not hold images; predict on input=test.")
    return stats
