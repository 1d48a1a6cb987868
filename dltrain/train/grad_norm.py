"""The global gradient norm of the steps that get logged, measured without touching loop.py.

The loop clears gradients right after each optimizer step, so the norm is taken in an optimizer
step pre-hook: gradients are complete there (accumulated, all-reduced under DDP, and unscaled by
the GradScaler, which unscales before it calls ``step``). Only steps the runner will log are
measured, and the value stays on the device until the runner reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class GradNorm:
    def __init__(self, optimizer: torch.optim.Optimizer, due: Callable[[], bool]) -> None:
        """``due()``: whether the step about to happen will be logged."""
        self.due, self.value = due, None
        self.handle = optimizer.register_step_pre_hook(self._measure)

    def _measure(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self.due():
            return
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if grads:
            norms = [
                torch.linalg.vector_norm(g.coalesce().values() if g.is_sparse else g.detach())
                .float()
                .to(grads[0].device)
                for g in grads
            ]
            self.value = torch.linalg.vector_norm(torch.stack(norms))

    def take(self) -> dict[str, float]:
        """``{"grad_norm": value}`` for the last measured step (empty if it was skipped)."""
        value, self.value = self.value, None
        return {} if value is None else {"grad_norm": value.item()}
