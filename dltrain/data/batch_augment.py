"""Augmentations with batch forms: every sample draws its own parameters, one kernel per batch.

torchvision's v2 transforms draw one set of parameters per call, so applied to a batch they
would flip or crop every image the same way. These draw per sample from a generator seeded by
(seed, epoch, rank, batch), so the in-memory loader is deterministic and resumes exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.nn import functional as F

Batch = tuple[torch.Tensor, torch.Tensor | None]  # images (B, C, H, W), masks (B, 1, H, W)


def _flip(p: float, dim: int) -> Callable[[Batch, torch.Generator], Batch]:
    def apply(batch: Batch, generator: torch.Generator) -> Batch:
        images, masks = batch
        chosen = torch.rand(len(images), generator=generator, device=images.device) < p
        mask_view = chosen.view(-1, 1, 1, 1)
        images = torch.where(mask_view, images.flip(dim), images)
        if masks is not None:
            masks = torch.where(mask_view, masks.flip(dim), masks)
        return images, masks

    return apply


def horizontal_flip(p: float = 0.5) -> Callable[[Batch, torch.Generator], Batch]:
    return _flip(p, -1)


def vertical_flip(p: float = 0.5) -> Callable[[Batch, torch.Generator], Batch]:
    return _flip(p, -2)


def random_crop(
    size: int | Sequence[int], padding: int | None = None, fill: float = 0.0
) -> Callable[[Batch, torch.Generator], Batch]:
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


BATCH_AUGMENTATIONS: dict[str, Callable[..., Callable[[Batch, torch.Generator], Batch]]] = {
    "horizontal_flip": horizontal_flip,
    "vertical_flip": vertical_flip,
    "random_crop": random_crop,
}


def has_batch_forms(specs: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether every transform listed (name and options) has a batch form here."""
    import inspect

    for spec in specs or []:
        builder = BATCH_AUGMENTATIONS.get(spec["name"])
        if builder is None or not set(spec) - {"name"} <= set(
            inspect.signature(builder).parameters
        ):
            return False
    return True


def build_batch_augment(
    specs: Sequence[Mapping[str, Any]] | None,
) -> Callable[[Batch, torch.Generator], Batch] | None:
    if not specs:
        return None
    steps = [
        BATCH_AUGMENTATIONS[spec["name"]](**{k: v for k, v in spec.items() if k != "name"})
        for spec in specs
    ]

    def apply(batch: Batch, generator: torch.Generator) -> Batch:
        for step in steps:
            batch = step(batch, generator)
        return batch

    return apply
