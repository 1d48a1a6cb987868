"""``dltrain summary``: each layer's output shape and parameter count on the data's input."""

from __future__ import annotations

from typing import Any

from dltrain.config.compose import compose
from dltrain.config.freeze import to_plain
from dltrain.errors import UserError


def describe(model: Any, input_shape: list[int]) -> list[tuple[str, str, str, int]]:
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
    model.eval()
    with torch.inference_mode():
        model(torch.zeros(1, *input_shape))
    for hook in hooks:
        hook.remove()
    return rows


def run_summary(args: list[str]) -> None:
    from dltrain.config.validate import validate_composed

    cfg = compose(args)
    validate_composed(cfg)
    plain = to_plain(cfg)
    from dltrain.models.build import build_model

    model = build_model(plain["model"], load_weights=False)  # shapes only
    shape = list(plain["data"]["shape"])
    try:
        rows = describe(model, shape)
    except (RuntimeError, ValueError) as err:
        raise UserError(
            f"model '{plain['model']['name']}' cannot run on data of shape {shape}: {err}"
        ) from None
    width = max(len(r[0]) for r in rows) + 2
    print(f"{plain['model']['name']} on input (batch, {', '.join(map(str, shape))})")
    print(f"{'layer':<{width}}{'type':<18}{'output shape':<22}{'params':>12}")
    for name, kind, out, params in rows:
        print(f"{name:<{width}}{kind:<18}{out:<22}{params:>12,}")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"total parameters: {total:,}  trainable: {trainable:,}")
