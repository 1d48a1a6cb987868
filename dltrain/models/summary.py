"""A model's layers, output shapes and parameter counts on one input (``dltrain summary``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dltrain.errors import UserError


def describe(model: Any, input_shape: Sequence[int]) -> list[tuple[str, str, str, int]]:
    """Rows of (name, type, output shape, parameters) for every leaf module, in call order."""
    import torch

    rows: list[tuple[str, str, str, int]] = []
    hooks = []
    for name, module in model.named_modules():
        if list(module.children()):
            continue

        def record(mod: Any, _inputs: Any, output: Any, name: str = name) -> None:
            shape = tuple(output.shape) if hasattr(output, "shape") else type(output).__name__
            params = sum(p.numel() for p in mod.parameters(recurse=False))
            rows.append((name, type(mod).__name__, str(shape), params))

        hooks.append(module.register_forward_hook(record))
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        with torch.inference_mode():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return rows


def summary_lines(model: Any, name: str, input_shape: Sequence[int]) -> list[str]:
    """The printed table: one line per layer, then the parameter totals."""
    shape = [int(s) for s in input_shape]
    try:
        rows = describe(model, shape)
    except (RuntimeError, ValueError) as err:
        raise UserError(f"model '{name}' cannot run on data of shape {shape}: {err}") from None
    width = max((len(r[0]) for r in rows), default=5) + 2
    lines = [f"{name} on input (batch, {', '.join(map(str, shape))})"]
    lines.append(f"{'layer':<{width}}{'type':<18}{'output shape':<22}{'params':>12}")
    lines += [f"{n:<{width}}{kind:<18}{out:<22}{params:>12,}" for n, kind, out, params in rows]
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines.append(f"total parameters: {total:,}  trainable: {trainable:,}")
    return lines
