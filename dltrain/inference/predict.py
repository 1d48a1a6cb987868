"""A trained model's predictions (``dltrain predict``, dltrain/cli/predict.py).

Image files (PNG, JPEG, ...) become model inputs the way training data did: converted to the
model's channels (grey or RGB), resized to ``data.shape``, normalised with the data set's mean
and std (from the saved config, or from the data set itself when the config says "the data
set's own statistics"). Writes OUTPUT/predictions.csv, plus OUTPUT/masks/*.png for segmentation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dltrain.data.checks import image_files
from dltrain.errors import UserError
from dltrain.inference.predict_outputs import PredictionTable
from dltrain.inference.predictions import Predictions
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
    check_source(source)
    name = source if source in SPLITS else Path(source).expanduser().stem or "input"
    table = PredictionTable(trained, Path(output or trained.run_dir / "predictions" / name))
    for predictions in decoded(trained, source_batches(trained, source, batch_size)):
        table.add(predictions)
    return table.finish(), table.count


def decoded(trained: Trained, batches: Iterable[Batch]) -> Iterator[Predictions]:
    """Each batch through the model, its outputs decoded for the model's task."""
    for names, inputs, targets, sizes in batches:
        outputs = trained.forward(inputs)
        yield Predictions.of_batch(
            trained.task, trained.class_names, names, outputs, targets, sizes
        )


def source_batches(
    trained: Trained, source: str | Path | Sequence[str | Path], batch_size: int
) -> Iterator[Batch]:
    """Batches of a split name, an image file, a folder of images, or a list of files and
    folders (named by their paths)."""
    if batch_size < 1:
        raise UserError(f"batch_size must be 1 or more, got {batch_size}.")
    if isinstance(source, str) and source in SPLITS:
        return _split_batches(trained, source, batch_size)
    if isinstance(source, str | Path):
        check_source(str(source))
        path = Path(source).expanduser()
        files = image_files(path) if path.is_dir() else [path]
        names = [str(f.relative_to(path)) if path.is_dir() else f.name for f in files]
        return _file_batches(trained, files, names, batch_size, path)
    files = []
    for item in source:
        check_source(str(item))
        path = Path(item).expanduser()
        files += image_files(path) if path.is_dir() else [path]
    return _file_batches(trained, files, [str(f) for f in files], batch_size, "the inputs")


def array_batches(
    trained: Trained, inputs: torch.Tensor, batch_size: int, normalize: bool
) -> Iterator[Batch]:
    """Batches of an N x C x H x W tensor (or one C x H x W sample) in data.shape, pixel
    values in [0, 1] (uint8: 0..255) normalised as the training images were; ``normalize``
    False: the inputs are model-ready as they are. Rows are named by their index."""
    if batch_size < 1:
        raise UserError(f"batch_size must be 1 or more, got {batch_size}.")
    shape = trained.input_shape
    if list(inputs.shape) == shape:
        inputs = inputs.unsqueeze(0)
    if list(inputs.shape[1:]) != shape:
        raise UserError(
            f"inputs of shape {list(inputs.shape)} do not fit this model, which takes "
            f"N x {' x '.join(map(str, shape))} (data.shape {shape}) or one sample of that shape."
        )
    inputs = inputs.float() / 255.0 if inputs.dtype == torch.uint8 else inputs.float()
    if normalize:
        mean, std = image_normalisation(trained)
        inputs = (inputs - mean) / std
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start : start + batch_size]
        yield [str(i) for i in range(start, start + len(chunk))], chunk, None, []


def _split_batches(trained: Trained, split: str, batch_size: int) -> Iterator[Batch]:
    split, dataset = split_dataset(trained, split)
    index = 0
    for inputs, targets in data_loader(trained, dataset, batch_size):
        names = [f"{split}:{i}" for i in range(index, index + len(inputs))]
        index += len(inputs)
        yield names, inputs, targets, []


def _file_batches(
    trained: Trained, files: list[Path], names: list[str], batch_size: int, source: object
) -> Iterator[Batch]:
    from dltrain.data.checks import IMAGE_EXTENSIONS

    shape = trained.input_shape
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise UserError(
            f"this model takes inputs of shape {shape}, not grey or RGB images: "
            "predict on a split of its data set instead (input=test)."
        )
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
        yield names[start : start + batch_size], inputs, None, list(sizes)


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
