"""Per-sample colour ops: torchvision's formulas with one factor per sample, and color_jitter.

torchvision's functionals take one factor per call; these are the same blends (brightness,
contrast, saturation, sharpness, posterize, solarize; ``_blend`` as in torchvision) with a
factor tensor of shape (B,), so a batch is a few tensor ops. Where torchvision's functional
already works per image on a batch (``autocontrast``, ``equalize``) it is used as it is; hue
uses torchvision's own RGB<->HSV conversion. One-channel images have no saturation or hue:
those leave them as they are, as torchvision does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dltrain.data.augment.types import Batch, BatchOp
from dltrain.data.augment.warp import uniform, value_range

_GREY = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


def _per_sample(factor: torch.Tensor) -> torch.Tensor:
    return factor.view(-1, 1, 1, 1)


def _blend(images: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    factor = _per_sample(factor)
    return (factor * images + (1.0 - factor) * other).clamp_(0.0, 1.0)


def grey(images: torch.Tensor) -> torch.Tensor:
    if images.shape[1] == 1:
        return images
    weights = torch.tensor(_GREY, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (images * _per_sample(factor)).clamp_(0.0, 1.0)


def contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = grey(images).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(images, mean, factor)


def saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    if images.shape[1] == 1:
        return images
    return _blend(images, grey(images), factor)


def hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift the hue by ``shift`` turns (in [-0.5, 0.5]); torchvision's own colour conversion."""
    if images.shape[1] == 1:
        return images
    from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv

    hsv = _rgb_to_hsv(images)
    h = (hsv[:, 0] + shift.view(-1, 1, 1)) % 1.0
    return _hsv_to_rgb(torch.stack([h, hsv[:, 1], hsv[:, 2]], 1))


def sharpness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with torchvision's smoothing of the inner pixels (3x3 kernel, centre 5/13), as
    sums of shifted slices: a grouped conv or avg_pool is ~10x slower on a CPU here."""
    if images.shape[-1] <= 2 or images.shape[-2] <= 2:
        return images
    rows = images[..., :-2, :] + images[..., 1:-1, :] + images[..., 2:, :]
    box = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]
    smooth = images.clone()
    smooth[..., 1:-1, 1:-1] = ((box + 4.0 * images[..., 1:-1, 1:-1]) / 13.0).clamp_(0.0, 1.0)
    return _blend(images, smooth, factor)


def posterize(images: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    levels = _per_sample(torch.pow(2.0, bits.to(images.dtype)))
    return (images * levels).floor_().clamp_(min=0).minimum(levels - 1) / levels


def solarize(images: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    return torch.where(images >= _per_sample(threshold), 1.0 - images, images)


def autocontrast(images: torch.Tensor, _: torch.Tensor | None = None) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as TF

    return TF.autocontrast(images)  # per image and channel already


def equalize(images: torch.Tensor, _: torch.Tensor | None = None) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as TF

    return TF.equalize(images)  # per image and channel already


def color_jitter(
    brightness: float | Sequence[float] | None = None,
    contrast: float | Sequence[float] | None = None,
    saturation: float | Sequence[float] | None = None,
    hue: float | Sequence[float] | None = None,
) -> BatchOp:
    """torchvision's ColorJitter per sample (factors as it reads them: v is [1-v, 1+v], hue v is
    [-v, v]); applied in the order brightness, contrast, saturation, hue (torchvision shuffles
    the order per call)."""
    steps = []
    for name, value, op in (
        ("brightness", brightness, globals()["brightness"]),
        ("contrast", contrast, globals()["contrast"]),
        ("saturation", saturation, globals()["saturation"]),
    ):
        if value is not None:
            low, high = value_range(value, name, around=1.0)
            steps.append((max(low, 0.0), high, op))
    if hue is not None:
        low, high = value_range(hue, "hue")
        if not -0.5 <= low <= high <= 0.5:
            raise ValueError(f"hue must be in [-0.5, 0.5], got {hue}")
        steps.append((low, high, globals()["hue"]))

    def apply(batch: Batch, generator: torch.Generator) -> Batch:
        images, masks = batch
        for low, high, op in steps:
            images = op(images, uniform(low, high, len(images), generator, images.device))
        return images, masks

    return apply
