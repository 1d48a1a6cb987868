"""Every model builds from its config and trains a step on its data set's shape; zoo models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dltrain.config.compose import compose
from dltrain.config.freeze import to_plain
from dltrain.config.validate import validate_composed
from dltrain.errors import UserError
from dltrain.models.build import build_model, model_task

# model -> the overrides of a data set for its task (timm: a small architecture).
MODEL_DATA = {
    "softmax_regression": ["data=fashionmnist"],
    "mlp": ["data=fashionmnist"],
    "lenet": ["data=fashionmnist"],
    "fmnist_cnn": ["data=fashionmnist"],
    "alexnet": ["data=fashionmnist"],
    "unet": ["data=fashionmnist"],
    "regression_mlp": ["data=quadratic"],
    "torchvision": ["data=fashionmnist"],
    "timm": ["data=fashionmnist", "model.arch=resnet10t"],
}


def config_for(model: str, *extra: str) -> dict:
    overrides = [f"model={model}", *MODEL_DATA[model], *extra]
    cfg = compose(overrides)
    validate_composed(cfg)
    return to_plain(cfg)


def test_every_model_config_is_covered_and_registered():
    from dltrain.config.compose import group_options
    from dltrain.registry import MODELS

    assert sorted(group_options("model")) == sorted(MODEL_DATA)
    assert all(name in MODELS for name in MODEL_DATA)


@pytest.mark.parametrize("name", sorted(MODEL_DATA))
def test_model_builds_and_trains_a_step_on_its_data_shape(name: str):
    cfg = config_for(name)
    torch.manual_seed(0)
    model = build_model(cfg["model"])
    task = model_task(cfg["model"])
    shape = cfg["data"]["shape"]
    out = model(torch.randn(2, *shape))
    expected = {
        "classification": (2, cfg["data"]["num_classes"]),
        "segmentation": (2, 1, *shape[1:]),
        "regression": (2, 1),
    }[task]
    assert tuple(out.shape) == expected
    out.float().pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_tasks_and_default_losses():
    assert config_for("unet")["loss"]["name"] == "dice_bce"
    assert config_for("regression_mlp")["loss"]["name"] == "mse"
    assert config_for("alexnet")["loss"]["name"] == "cross_entropy"
    with pytest.raises(UserError, match="Losses that do: .*dice_bce"):
        config_for("unet", "loss=cross_entropy")


@pytest.mark.parametrize("size", [(28, 28), (32, 32), (20, 36)])
@pytest.mark.parametrize("bilinear", [False, True])
def test_unet_keeps_the_input_size(size: tuple[int, int], bilinear: bool):
    from dltrain.models.unet import UNet

    model = UNet(in_channels=3, num_classes=2, base_width=4, bilinear=bilinear)
    assert tuple(model(torch.randn(2, 3, *size)).shape) == (2, 2, *size)


def test_unet_blocks_follow_the_tutorial():
    from dltrain.models.unet import UNet

    model = UNet(base_width=8)
    first = model.inc.double_conv
    assert [type(m).__name__ for m in first] == [
        "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"
    ]  # fmt: skip
    assert first[0].bias is None and first[0].kernel_size == (3, 3)
    assert isinstance(model.up1.up, torch.nn.ConvTranspose2d)
    assert model.up1.up.stride == (2, 2) and model.outc.conv.kernel_size == (1, 1)
    assert isinstance(UNet(bilinear=True).up1.up, torch.nn.Upsample)


def test_alexnet_stems():
    from dltrain.models.alexnet import AlexNet

    small = AlexNet(hidden=64)
    assert tuple(small(torch.randn(2, 1, 28, 28)).shape) == (2, 10)
    tutorial = AlexNet(stem="imagenet", hidden=64).eval()
    assert tuple(tutorial(torch.randn(1, 1, 224, 224)).shape) == (1, 10)
    assert tutorial.conv[0].kernel_size == (11, 11) and tutorial.conv[0].stride == (4, 4)
    with pytest.raises(UserError, match="model.stem must be one of small, imagenet"):
        build_model(config_for("alexnet", "model.stem=large")["model"])


def test_torchvision_resnet18_for_one_channel_and_ten_classes():
    model = build_model(config_for("torchvision")["model"])
    assert model.conv1.in_channels == 1 and model.fc.out_features == 10


def test_torchvision_loads_imagenet_style_weights_then_adapts(tmp_path: Path):
    import torchvision

    torch.manual_seed(0)
    original = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save({f"module.{k}": v for k, v in original.state_dict().items()}, path)
    model = build_model(config_for("torchvision", f"model.weights={path}")["model"])
    assert torch.equal(model.layer1[0].conv1.weight, original.layer1[0].conv1.weight)
    summed = original.conv1.weight.sum(dim=1, keepdim=True)
    assert torch.allclose(model.conv1.weight, summed)
    assert model.fc.out_features == 10
    adapted = tmp_path / "adapted.pt"
    torch.save({"model": {f"_orig_mod.{k}": v for k, v in model.state_dict().items()}}, adapted)
    again = build_model(config_for("torchvision", f"model.weights={adapted}")["model"])
    assert torch.equal(again.fc.weight, model.fc.weight), "an adapted model's file loads as is"


def test_torchvision_unknown_arch_names_the_closest():
    with pytest.raises(UserError, match="Did you mean 'resnet18'"):
        build_model(config_for("torchvision", "model.arch=resnet17")["model"])


def test_timm_small_model_for_one_channel_and_ten_classes(tmp_path: Path):
    import timm

    model = build_model(config_for("timm")["model"])
    assert model.get_classifier().out_features == 10
    assert tuple(model(torch.randn(2, 1, 28, 28)).shape) == (2, 10)
    original = timm.create_model("resnet10t")
    path = tmp_path / "resnet10t.pth"
    torch.save(original.state_dict(), path)
    tuned = build_model(config_for("timm", f"model.pretrained_path={path}")["model"])
    assert tuned.get_classifier().out_features == 10
    stem = original.pretrained_cfg["first_conv"]
    assert tuned.get_submodule(stem).in_channels == 1
    assert torch.equal(tuned.layer1[0].conv1.weight, original.layer1[0].conv1.weight)


def test_timm_unknown_arch_is_a_user_error():
    with pytest.raises(UserError, match="is not a timm model"):
        build_model(config_for("timm", "model.arch=resnet10q")["model"])
