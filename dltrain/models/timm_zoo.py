"""``model=timm``: any ``timm.list_models()`` architecture by ``model.arch``.

``pretrained_path`` is a local weights file (no downloads), loaded safely into the original
architecture before timm's own ``reset_classifier`` and an input-conv adaptation for
``in_chans``; a file saved from the adapted model loads as it is. timm is imported only when
the model is built: the import takes seconds.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from dltrain.errors import UserError
from dltrain.models.adapt import adapt_first_conv
from dltrain.models.checks import arch_check
from dltrain.models.weights import fits, load_weights, read_state_dict
from dltrain.registry import MODELS, did_you_mean


def check_arch(arch: str) -> None:
    import timm

    if arch not in timm.list_models():
        close = timm.list_models(f"*{arch}*")[:20]
        hint = did_you_mean(arch, close or timm.list_models())
        raise UserError(
            f"model.arch='{arch}' is not a timm model.{hint} Names with '{arch}': "
            f"{', '.join(close) or 'none'}. See timm.list_models()."
        )


@MODELS.register("timm", task="classification", check=arch_check(check_arch))
def timm_model(
    arch: str = "resnet18",
    in_chans: int = 3,
    num_classes: int = 1000,
    pretrained_path: str | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build ``arch`` with ``in_chans`` inputs and ``num_classes`` outputs."""
    import timm

    check_arch(arch)
    if not pretrained_path:
        return timm.create_model(arch, in_chans=in_chans, num_classes=num_classes, **kwargs)
    state = read_state_dict(pretrained_path, key="model.pretrained_path")
    model = timm.create_model(arch, **kwargs)
    if not fits(model, state):
        model = timm.create_model(arch, in_chans=in_chans, num_classes=num_classes, **kwargs)
        load_weights(model, pretrained_path, key="model.pretrained_path")
        return model
    model.load_state_dict(state)
    model.reset_classifier(num_classes)
    first = model.pretrained_cfg.get("first_conv")
    if in_chans != 3 and isinstance(first, str):
        _adapt_named_conv(model, first, in_chans)
    elif in_chans != 3:
        adapt_first_conv(model, in_chans, keep_weights=True)
    return model


def _adapt_named_conv(model: nn.Module, name: str, in_chans: int) -> None:
    from timm.models import adapt_input_conv

    conv = model.get_submodule(name)
    new = nn.Conv2d(
        in_chans,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        conv.bias is not None,
    )
    new.weight.data.copy_(adapt_input_conv(in_chans, conv.weight.data))
    if conv.bias is not None:
        new.bias.data.copy_(conv.bias.data)
    model.set_submodule(name, new)
