"""random_erasing as a batch op: torchvision's RandomErasing with a box drawn per sample.

Each sample is erased with probability ``p``; its box is drawn as torchvision draws it (area a
``scale`` fraction of the image, log-uniform aspect ``ratio``, up to 10 tries for a box that
fits), all tries of all samples at once, and painted with one blend by a 0/1 box. The mask is
left alone: erasing hides pixels, it does not move the object.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dltrain.data.augment.types import Batch, BatchOp

TRIES = 10  # torchvision's


def random_erasing(
    p: float = 0.5,
    scale: Sequence[float] = (0.02, 0.33),
    ratio: Sequence[float] = (0.3, 3.3),
    value: float = 0.0,
) -> BatchOp:
    """Erase a box of each chosen sample with ``value`` (pixels in [0, 1])."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if scale[0] > scale[1] or ratio[0] > ratio[1] or scale[0] < 0 or ratio[0] <= 0:
        raise ValueError(f"scale and ratio must be [min, max] ranges, got {scale} and {ratio}")
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def apply(batch: Batch, generator: torch.Generator) -> Batch:
        images, masks = batch
        count, device = len(images), images.device
        height, width = images.shape[-2:]

        def draw(low: float, high: float, shape: tuple) -> torch.Tensor:
            return low + (high - low) * torch.rand(shape, generator=generator, device=device)

        area = height * width * draw(scale[0], scale[1], (count, TRIES))
        aspect = torch.exp(draw(*log_ratio, (count, TRIES)))
        box_h = torch.sqrt(area * aspect).round()
        box_w = torch.sqrt(area / aspect).round()
        fits = (box_h < height) & (box_w < width) & (box_h > 0) & (box_w > 0)
        first = fits.int().argmax(1, keepdim=True)  # the first try that fits
        box_h, box_w = box_h.gather(1, first)[:, 0], box_w.gather(1, first)[:, 0]
        erase = fits.any(1) & (torch.rand(count, generator=generator, device=device) < p)
        top = (draw(0.0, 1.0, (count,)) * (height - box_h + 1)).floor()
        left = (draw(0.0, 1.0, (count,)) * (width - box_w + 1)).floor()
        rows = torch.arange(height, device=device).view(1, -1, 1)
        cols = torch.arange(width, device=device).view(1, 1, -1)
        in_rows = (rows >= top.view(-1, 1, 1)) & (rows < (top + box_h).view(-1, 1, 1))
        in_cols = (cols >= left.view(-1, 1, 1)) & (cols < (left + box_w).view(-1, 1, 1))
        in_rows = in_rows & erase.view(-1, 1, 1)
        # 0/1 products instead of a broadcast torch.where (several times slower on a CPU):
        # x * 1 + v * 0 is x and x * 0 + v * 1 is v, exactly
        inside = (in_rows.to(images.dtype) * in_cols.to(images.dtype)).unsqueeze(1)
        return images * (1.0 - inside) + value * inside, masks

    return apply
