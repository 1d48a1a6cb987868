"""Model surgery for zoo models: a new head for ``num_classes``, a first conv for other inputs.

Pretrained weights are loaded into the original architecture first and adapted afterwards, as
the fine-tuning tutorials do: the new head starts from random weights, and the first conv's
filters are summed (one channel) or repeated and rescaled (more channels) so that the
pretrained features still respond the same way to the new input.
"""

from __future__ import annotations

import torch
from torch import nn


def replace_heads(model: nn.Module, old_classes: int, num_classes: int) -> list[str]:
    """Swap every output layer (Linear, or 1x1 conv as in squeezenet) of ``old_classes``."""
    if old_classes == num_classes:
        return []
    replaced = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and module.out_features == old_classes:
            new: nn.Module = nn.Linear(module.in_features, num_classes, module.bias is not None)
        elif (
            isinstance(module, nn.Conv2d)
            and module.out_channels == old_classes
            and module.kernel_size == (1, 1)
        ):
            new = nn.Conv2d(module.in_channels, num_classes, 1, bias=module.bias is not None)
        else:
            continue
        model.set_submodule(name, new)
        replaced.append(name)
    if not replaced:
        raise ValueError(f"found no output layer with {old_classes} outputs to replace")
    return replaced


def first_conv_name(model: nn.Module) -> str:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name
    raise ValueError("the model has no Conv2d to adapt to model.in_channels")


def adapt_first_conv(model: nn.Module, in_channels: int, keep_weights: bool) -> None:
    """Give the first Conv2d ``in_channels`` inputs, reusing its filters if ``keep_weights``."""
    name = first_conv_name(model)
    old: nn.Conv2d = model.get_submodule(name)
    if old.in_channels == in_channels:
        return
    new = nn.Conv2d(
        in_channels,
        old.out_channels,
        old.kernel_size,
        old.stride,
        old.padding,
        old.dilation,
        old.groups,
        old.bias is not None,
        old.padding_mode,
    )
    if keep_weights:
        with torch.no_grad():
            weight = old.weight.sum(dim=1, keepdim=True)
            if in_channels > 1:
                weight = weight.repeat(1, in_channels, 1, 1) / in_channels
            new.weight.copy_(weight)
            if old.bias is not None:
                new.bias.copy_(old.bias)
    model.set_submodule(name, new)
