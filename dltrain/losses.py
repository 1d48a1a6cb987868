"""Loss builders: turn config values (lists, nulls) into what torch.nn losses expect."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def cross_entropy(
    label_smoothing: float = 0.0,
    weight: Sequence[float] | None = None,
    ignore_index: int = -100,
) -> nn.Module:
    """CrossEntropyLoss on logits; ``weight`` from the config becomes a float tensor."""
    tensor = torch.tensor(list(weight), dtype=torch.float32) if weight is not None else None
    return nn.CrossEntropyLoss(
        weight=tensor, ignore_index=ignore_index, label_smoothing=label_smoothing
    )
