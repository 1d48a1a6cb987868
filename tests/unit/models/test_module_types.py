"""Module types picked by class name: the default FSDP blocks of the model families, refusals."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision

from dltrain.errors import UserError
from dltrain.models.classic import MLP
from dltrain.models.module_types import default_blocks, modules_of_types, outermost
from dltrain.models.unet import UNet


@pytest.mark.parametrize(
    ("build", "blocks"),
    [
        (lambda: UNet(in_channels=1, num_classes=1), ["DoubleConv"]),
        (lambda: torchvision.models.resnet18(), ["BasicBlock"]),
        (lambda: torchvision.models.resnet50(), ["Bottleneck"]),
        (lambda: timm.create_model("vit_tiny_patch16_224"), ["Block"]),
        (lambda: timm.create_model("convnext_atto"), ["ConvNeXtBlock"]),
        (lambda: MLP(), []),  # small models: the root alone
    ],
)
def test_default_blocks_of_the_shipped_and_zoo_families(build, blocks):
    with torch.device("meta"):  # shapes only: no time spent initialising weights
        model = build()
    assert default_blocks(model) == blocks


def test_an_unknown_type_names_the_key_and_the_model_types():
    with pytest.raises(UserError) as err:
        modules_of_types(MLP(hidden=[8]), ["Linear", "Linaer"], "distributed.fsdp.wrap")
    message = str(err.value)
    assert "distributed.fsdp.wrap names ['Linaer']" in message
    assert "Did you mean 'Linear'?" in message and "Flatten, Linear, ReLU" in message


def test_outermost_drops_blocks_inside_picked_blocks():
    unet = UNet(in_channels=1, num_classes=1)
    picked = modules_of_types(unet, ["Down", "DoubleConv"], "trainer.activation_checkpointing")
    kept = outermost(picked, unet)
    downs = [unet.down1, unet.down2, unet.down3, unet.down4]
    ups = [unet.up1.conv, unet.up2.conv, unet.up3.conv, unet.up4.conv]
    assert kept == [unet.inc, *downs, *ups]  # the DoubleConv inside each Down is left out
