"""Reading tar shards sample by sample with webdataset's tar iterator, and decoding a sample.

A sample is the files of one key (``000123.png``, ``000123.cls``, ``000123.mask.png``): the
image (png, jpg, ...), its class (``cls``: the label as ASCII digits) and, for segmentation,
its mask (``mask.png``: 0 background, anything else foreground). webdataset's
``tarfile_samples`` does the tar reading and key grouping (the library's own reader, so shards
written by any WebDataset tool read the same); decoding is PIL's, as for image folders.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from dltrain.errors import RunError, UserError

IMAGE_KEYS = ("png", "jpg", "jpeg", "webp", "bmp", "ppm", "pgm", "tif", "tiff")
LABEL_KEY = "cls"
MASK_KEY = "mask.png"

Raw = dict[str, Any]


def read_shard(path: Path, expected: int | None = None) -> list[Raw]:
    """Every sample of a shard as raw bytes, in the tar's order (decoded later, by whoever
    uses it). ``expected``: the count the run planned with; another number fails the run."""
    from webdataset.tariterators import tarfile_samples

    try:
        samples = list(tarfile_samples(iter([{"url": str(path)}])))
    except Exception as err:  # noqa: BLE001 - tarfile, gopen and webdataset raise many kinds
        raise RunError(f"cannot read shard {path}: {type(err).__name__}: {err}") from None
    if expected is not None and len(samples) != expected:
        raise RunError(
            f"shard {path} holds {len(samples)} samples but was counted with {expected}: it "
            "changed during the run (or holds a key's files apart). Write the shards again."
        )
    return samples


def image_key(sample: Raw) -> str:
    for key in IMAGE_KEYS:
        if key in sample:
            return key
    raise UserError(
        f"sample '{sample.get('__key__')}' of {sample.get('__url__')} has no image (one of "
        f"{', '.join(IMAGE_KEYS)}); it has {', '.join(k for k in sample if not k.startswith('_'))}."
    )


def decode_image(data: bytes, channels: int, size: int | None, where: str) -> torch.Tensor:
    """Image bytes as a C x H x W uint8 tensor (resized to ``size`` squared when given)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8).reshape(image.size[1], image.size[0], -1)
    except Exception as err:  # noqa: BLE001 - PIL raises many kinds for broken bytes
        raise RunError(f"{where} is not a readable image ({type(err).__name__}: {err})") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def decode_mask(data: bytes, size: Sequence[int], where: str) -> torch.Tensor:
    """A mask image as a 1 x H x W uint8 tensor of 0 and 1, at ``size`` (nearest)."""
    mask = decode_image(data, 1, None, where)
    if tuple(mask.shape[-2:]) != tuple(size):
        mask = torch.nn.functional.interpolate(mask[None].float(), size=tuple(size))[0].byte()
    return (mask > 0).to(torch.uint8)


def decode_label(sample: Raw) -> int:
    try:
        return int(sample[LABEL_KEY])
    except (KeyError, ValueError):
        raise RunError(
            f"sample '{sample.get('__key__')}' of {sample.get('__url__')} has no class label "
            f"('{LABEL_KEY}': the label as ASCII digits)."
        ) from None
