"""Scheduler builders that need the run's length or have no single torch class."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler


def constant(optimizer: torch.optim.Optimizer) -> None:
    """No scheduler: the optimizer's learning rate stays as configured."""
    return None


def cosine(optimizer: torch.optim.Optimizer, total_steps: int, eta_min: float = 0.0) -> LRScheduler:
    """Cosine annealing over the whole run (``total_steps`` is filled in by the runner)."""
    return CosineAnnealingLR(optimizer, T_max=max(1, total_steps), eta_min=eta_min)
