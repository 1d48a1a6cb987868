"""Frozen BatchNorm: layers kept in eval mode, so their running statistics never change.

``model.freeze`` stops parameters from training, but ``model.train()`` (the loop calls it every
epoch) would still put the frozen part's BatchNorm layers in train mode, where every batch moves
their running mean and variance. So each BatchNorm layer of a frozen module (all of them with
``model.freeze_bn=true``) gets a ``train`` of its own that keeps it in eval mode. Whatever calls
``train()`` on the model or on a wrapper above it (the loop, DDP, torch.compile's module,
copies of the model) then leaves those layers in eval, by construction. The layers stay what
they were, so state_dict keys do not change (eval, predict and export load the same
checkpoints), and their affine weight and bias still train unless model.freeze froze them.

Why not torchvision's ``FrozenBatchNorm2d`` (timm's ``freeze_batch_norm_2d`` swaps it in): it
turns weight and bias into buffers (``freeze_bn`` must leave them trainable), drops
``num_batches_tracked`` from the state_dict (checkpoints would no longer load into the plain
model), and has no 1-D or 3-D form.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _stay_in_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    """The ``train`` of a frozen BatchNorm layer: eval, whatever ``mode`` asks."""
    return type(self).train(self, False)


def keep_in_eval(model: nn.Module, names: Iterable[str]) -> None:
    """The named submodules (BatchNorm layers) stay in eval mode from now on."""
    for name in names:
        layer = model.get_submodule(name)
        layer.train = types.MethodType(_stay_in_eval, layer)
        layer.train()


def batchnorm_names(model: nn.Module, where: Callable[[str], bool] | None = None) -> list[str]:
    """The names of the BatchNorm layers (every dimension, SyncBatchNorm too), all or those
    ``where(name)`` picks."""
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, _BatchNorm) and (where is None or where(name))
    ]


def kept_in_eval(model: nn.Module) -> list[str]:
    """The names of the layers ``keep_in_eval`` holds in eval mode."""
    return [
        name
        for name, module in model.named_modules()
        if getattr(module.__dict__.get("train"), "__func__", None) is _stay_in_eval
    ]


def convert_sync_batchnorm(model: nn.Module) -> nn.Module:
    """torch's SyncBatchNorm conversion (distributed.sync_bn), whose new layers would forget
    being frozen: the same layers are kept in eval again (in eval they sync nothing)."""
    frozen = kept_in_eval(model)
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    keep_in_eval(converted, frozen)
    return converted
