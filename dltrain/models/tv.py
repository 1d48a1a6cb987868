"""``model=torchvision``: any torchvision classification model by ``model.arch``.

The key is ``arch`` because ``name`` already picks the registry entry (``torchvision``).
``weights`` is a local file (nothing is downloaded): ImageNet weights load into the original
architecture, then the head is replaced to ``num_classes`` and the first conv adapted to
``in_channels``; weights saved from an already adapted model load as they are.
torchvision is imported only when the model is built.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from dltrain.errors import UserError
from dltrain.models.adapt import adapt_first_conv, replace_heads
from dltrain.models.checks import arch_check
from dltrain.models.weights import fits, load_weights, read_state_dict
from dltrain.registry import MODELS, did_you_mean

AUX_ARCHS = {"googlenet", "inception_v3"}  # their auxiliary heads would return tuples


def classification_archs() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def check_arch(arch: str) -> None:
    archs = classification_archs()
    if arch not in archs:
        raise UserError(
            f"model.arch='{arch}' is not a torchvision classification model."
            f"{did_you_mean(arch, archs)} Known: {', '.join(archs)}."
        )


def _create(arch: str, kwargs: dict[str, Any]) -> nn.Module:
    import torchvision

    check_arch(arch)
    if arch in AUX_ARCHS:
        kwargs = {"aux_logits": False, "init_weights": True, **kwargs}
    return torchvision.models.get_model(arch, weights=None, **kwargs)


@MODELS.register("torchvision", task="classification", check=arch_check(check_arch))
def torchvision_model(
    arch: str = "resnet18",
    in_channels: int = 3,
    num_classes: int = 1000,
    weights: str | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build ``arch``, load local ``weights``, then fit the head and first conv to the data."""
    model = _create(arch, dict(kwargs))
    original_classes = _classes(model)
    state = read_state_dict(weights) if weights else None
    pretrained = state is not None and fits(model, state)
    if pretrained:
        model.load_state_dict(state)
    try:
        replace_heads(model, original_classes, num_classes)
        adapt_first_conv(model, in_channels, keep_weights=pretrained)
    except ValueError as err:
        raise UserError(f"model.arch={arch}: {err}.") from None
    if weights and not pretrained:
        load_weights(model, weights)  # weights of the adapted model, or a clear mismatch error
    return model


def _classes(model: nn.Module) -> int:
    """The class count of the architecture's own head (1000 for ImageNet models)."""
    return int(getattr(model, "num_classes", 0) or 1000)
