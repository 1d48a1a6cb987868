"""A model's modules picked by class name: what FSDP shards one unit each and what activation
checkpointing recomputes.

A config names module types (``distributed.fsdp.wrap=[Bottleneck]``,
``trainer.activation_checkpointing=[Block]``), never code: the names are matched against the
class names of the model's own modules, so a name the model does not have is exit 2 listing the
ones it has. ``DEFAULT_BLOCKS`` are the repeated blocks of the shipped models and of the
torchvision and timm families, the usual unit of sharding.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from dltrain.errors import UserError
from dltrain.registry import did_you_mean

DEFAULT_BLOCKS = (
    "DoubleConv",  # dltrain's unet (inside Down and Up too)
    "BasicBlock",  # ResNet (torchvision, timm)
    "Bottleneck",
    "Block",  # timm ViT, DeiT, ...
    "EncoderBlock",  # torchvision ViT
    "ConvNeXtBlock",  # timm ConvNeXt
    "CNBlock",  # torchvision ConvNeXt
    "SwinTransformerBlock",  # torchvision and timm Swin
    "MBConv",  # torchvision EfficientNet
    "FusedMBConv",
    "InvertedResidual",  # MobileNet (torchvision, timm), timm EfficientNet
    "DepthwiseSeparableConv",
    "EdgeResidual",
    "ResBottleneckBlock",  # torchvision RegNet
    "_DenseLayer",  # torchvision DenseNet
    "DenseLayer",  # timm DenseNet
)


def module_type_names(model: nn.Module) -> list[str]:
    """The class names of the model's modules below the root, in the order they first appear."""
    names = [type(module).__name__ for module in model.modules()][1:]
    return list(dict.fromkeys(names))


def modules_of_types(model: nn.Module, names: Sequence[str], key: str) -> list[nn.Module]:
    """The model's modules (not the root) whose class is named in ``names``, in module order;
    a name that is no module type of the model is a UserError naming ``key`` and the types."""
    own = module_type_names(model)
    unknown = [name for name in names if name not in own]
    if unknown:
        hint = did_you_mean(unknown[0], own)
        raise UserError(
            f"{key} names {unknown} but the model ({type(model).__name__}) has no module of "
            f"that type.{hint} Its module types: {', '.join(own)}. Set {key}=[...] to some of "
            "them."
        )
    wanted = set(names)
    return [module for module in list(model.modules())[1:] if type(module).__name__ in wanted]


def default_blocks(model: nn.Module) -> list[str]:
    """The names of ``DEFAULT_BLOCKS`` the model has (none for small models: the root alone)."""
    own = set(module_type_names(model))
    return [name for name in DEFAULT_BLOCKS if name in own]


def outermost(modules: Sequence[nn.Module], model: nn.Module) -> list[nn.Module]:
    """``modules`` without those inside another of them (a block nested in a picked block)."""
    picked = {id(module) for module in modules}
    inner: set[int] = set()
    for module in model.modules():
        if id(module) in picked:
            inner.update(id(sub) for sub in list(module.modules())[1:])
    return [module for module in modules if id(module) not in inner]
