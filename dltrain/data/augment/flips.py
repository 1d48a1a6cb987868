"""Flips and random crops as batch ops: every sample draws its own flip or crop position.

A flip picks per sample between the batch and its flipped copy, a crop one gather of padded
rows and columns; masks take the same draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from dltrain.data.augment.types import Batch, BatchOp, select


def _flip(p: float, dim: int) -> BatchOp:
    def apply(batch: Batch, generator: torch.Generator) -> Batch:
        images, masks = batch
        chosen = torch.rand(len(images), generator=generator, device=images.device) < p
        images = select(chosen, images.flip(dim), images)
        if masks is not None:
            masks = select(chosen, masks.flip(dim), masks)
        return images, masks

    return apply


def horizontal_flip(p: float = 0.5) -> BatchOp:
    return _flip(p, -1)


def vertical_flip(p: float = 0.5) -> BatchOp:
    return _flip(p, -2)


def random_crop(
    size: int | Sequence[int], padding: int | None = None, fill: float = 0.0
) -> BatchOp:
    """Pad by ``padding`` (constant ``fill``), then crop ``size`` at a random place per sample."""
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    pad = padding or 0

    def crop(tensor: torch.Tensor, top: torch.Tensor, left: torch.Tensor, value: float):
        padded = F.pad(tensor, (pad, pad, pad, pad), value=value) if pad else tensor
        rows = top[:, None] + torch.arange(height, device=tensor.device)  # B x h
        cols = left[:, None] + torch.arange(width, device=tensor.device)  # B x w
        batch = torch.arange(len(tensor), device=tensor.device)[:, None, None]
        picked = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        return picked.permute(0, 3, 1, 2).contiguous()

    def apply(batch: Batch, generator: torch.Generator) -> Batch:
        images, masks = batch
        room_y = images.shape[-2] + 2 * pad - height
        room_x = images.shape[-1] + 2 * pad - width
        if room_y < 0 or room_x < 0:
            raise ValueError(f"random_crop size {(height, width)} is larger than the padded image")
        device = images.device
        top = torch.randint(0, room_y + 1, (len(images),), generator=generator, device=device)
        left = torch.randint(0, room_x + 1, (len(images),), generator=generator, device=device)
        images = crop(images, top, left, fill)
        if masks is not None:
            masks = crop(masks, top, left, 0.0)
        return images, masks

    return apply
