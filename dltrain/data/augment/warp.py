"""Per-sample affine warps (random_rotation, random_affine and the geometric auto-augment ops).

Every sample gets its own matrix, built as torchvision's ``F.affine`` builds it (its inverse
affine matrix, angles in degrees, shear about ``center``, nearest sampling), and the whole batch
is warped by one ``affine_grid`` + ``grid_sample``: torchvision's own transforms draw one
matrix per call, so a batch would need a Python loop of 256 calls (~100 ms on a CPU core
against ~2 ms here). Masks are warped with the same grid, nearest, so they gain no new values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

from dltrain.data.augment.types import Batch, BatchOp


def inverse_matrices(
    angle: torch.Tensor,
    translate: torch.Tensor,
    scale: torch.Tensor,
    shear: torch.Tensor,
    center: torch.Tensor,
) -> torch.Tensor:
    """torchvision's ``_get_inverse_affine_matrix`` for a batch: (B, 2, 3), in pixels measured
    from the image centre. ``angle``, ``scale``: (B,); ``translate``, ``shear``, ``center``:
    (B, 2); angles and shears in degrees."""
    rot, sx, sy = angle.deg2rad(), shear[:, 0].deg2rad(), shear[:, 1].deg2rad()
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = -torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)
    m00, m01, m10, m11 = d / scale, -b / scale, -c / scale, a / scale
    cx, cy = center[:, 0], center[:, 1]
    tx, ty = translate[:, 0], translate[:, 1]
    m02 = m00 * (-cx - tx) + m01 * (-cy - ty) + cx
    m12 = m10 * (-cx - tx) + m11 * (-cy - ty) + cy
    return torch.stack([torch.stack([m00, m01, m02], 1), torch.stack([m10, m11, m12], 1)], 1)


def warp(batch: Batch, matrices: torch.Tensor, fill: float = 0.0) -> Batch:
    """Warp images (and masks, fill 0) by per-sample inverse pixel ``matrices``, nearest."""
    images, masks = batch
    height, width = images.shape[-2:]
    half = torch.tensor([width / 2, height / 2], device=images.device, dtype=images.dtype)
    theta = matrices.to(images.dtype).clone()
    theta[:, :, :2] *= half[None, None, :] / half[None, :, None]  # pixels -> [-1, 1] units
    theta[:, :, 2] /= half[None, :]
    parts = [images] + ([masks.to(images.dtype)] if masks is not None else [])
    if fill:
        parts.append(torch.ones_like(images[:, :1]))  # what lands outside the image reads 0
    stacked = torch.cat(parts, 1) if len(parts) > 1 else images
    grid = F.affine_grid(theta, list(stacked.shape), align_corners=False)
    out = F.grid_sample(stacked, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    channels = images.shape[1]
    warped = out[:, :channels]
    if fill:
        warped = torch.where(out[:, -1:] > 0.5, warped, torch.full_like(warped, fill))
    warped_masks = None
    if masks is not None:
        warped_masks = out[:, channels : channels + 1].to(masks.dtype)
    return warped, warped_masks


def value_range(value: float | Sequence[float] | None, name: str, around: float = 0.0) -> tuple:
    """torchvision's convention: a number v is [around - v, around + v], a pair is [lo, hi]."""
    if value is None:
        return (around, around)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{name} must be positive when a single number, got {value}")
        return (around - value, around + value)
    if len(value) != 2 or value[0] > value[1]:
        raise ValueError(f"{name} must be a number or [min, max], got {list(value)}")
    return (float(value[0]), float(value[1]))


def uniform(
    low: float, high: float, count: int, generator: torch.Generator, device
) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator, device=device)


def random_affine(
    degrees: float | Sequence[float] = 0.0,
    translate: Sequence[float] | None = None,
    scale: Sequence[float] | None = None,
    shear: float | Sequence[float] | None = None,
    fill: float = 0.0,
) -> BatchOp:
    """torchvision's RandomAffine per sample: angle in ``degrees``, translation up to
    ``translate`` (fractions of width, height), ``scale`` [min, max], ``shear`` in degrees
    (a number or [min, max] along x; four numbers: x then y ranges)."""
    angles = value_range(degrees, "degrees")
    if translate is not None and not all(0.0 <= t <= 1.0 for t in translate):
        raise ValueError(f"translate values must be in [0, 1], got {list(translate)}")
    scales = (1.0, 1.0) if scale is None else value_range(scale, "scale")
    if scales[0] <= 0:
        raise ValueError(f"scale values must be positive, got {list(scale or [])}")
    shear_list = [] if shear is None else ([shear] if isinstance(shear, int | float) else shear)
    shear_x = value_range(
        shear_list[0] if len(shear_list) == 1 else shear_list[:2] or None, "shear"
    )
    shear_y = value_range(shear_list[2:4], "shear") if len(shear_list) == 4 else (0.0, 0.0)

    def apply(batch: Batch, generator: torch.Generator) -> Batch:
        images = batch[0]
        count, device = len(images), images.device
        height, width = images.shape[-2:]

        def draw(bounds: tuple) -> torch.Tensor:
            return uniform(*bounds, count, generator, device)

        max_dx = 0.0 if translate is None else translate[0] * width
        max_dy = 0.0 if translate is None else translate[1] * height
        shift = torch.stack([draw((-max_dx, max_dx)).round(), draw((-max_dy, max_dy)).round()], 1)
        shears = torch.stack([draw(shear_x), draw(shear_y)], 1)
        center = torch.zeros(count, 2, device=device)
        matrices = inverse_matrices(draw(angles), shift, draw(scales), shears, center)
        return warp(batch, matrices, fill)

    return apply


def random_rotation(degrees: float | Sequence[float], fill: float = 0.0) -> BatchOp:
    """torchvision's RandomRotation per sample (about the centre, nearest, no expand)."""
    angles = value_range(degrees, "degrees")

    def apply(batch: Batch, generator: torch.Generator) -> Batch:
        images = batch[0]
        count, device = len(images), images.device
        zeros = torch.zeros(count, 2, device=device)
        angle = -uniform(*angles, count, generator, device)  # rotate: counter-clockwise
        ones = torch.ones(count, device=device)
        return warp(batch, inverse_matrices(angle, zeros, ones, zeros, zeros), fill)

    return apply


def degrees_of_shear(magnitude: torch.Tensor) -> torch.Tensor:
    """Auto-augment shears are tan(angle): the angle in degrees, as torchvision converts it."""
    return torch.atan(magnitude) * (180.0 / math.pi)
