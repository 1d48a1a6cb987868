"""What a batch op takes and returns: images (B, C, H, W) in [0, 1] and masks (B, 1, H, W)."""

from __future__ import annotations

from collections.abc import Callable

import torch

Batch = tuple[torch.Tensor, torch.Tensor | None]
BatchOp = Callable[[Batch, torch.Generator], Batch]


def select(chosen: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Per sample (``chosen``: (B,) bool), ``new`` where chosen, else ``old``.

    On the CPU the chosen rows are copied by index (a broadcast ``torch.where`` is several times
    slower there); elsewhere ``torch.where``, since indexing by a drawn condition would wait
    for the device.
    """
    if old.device.type != "cpu":
        return torch.where(chosen.view(-1, *[1] * (old.dim() - 1)), new, old)
    rows = chosen.nonzero().squeeze(1)
    out = old.clone()
    out[rows] = new[rows]
    return out
