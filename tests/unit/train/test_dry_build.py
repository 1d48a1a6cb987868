"""train/dry_build.py in process: what it refuses, and what it must not refuse."""

from __future__ import annotations

import pytest
import torch

from dltrain.config.compose import compose
from dltrain.config.validate import validate_composed
from dltrain.errors import UserError
from dltrain.registry import OPTIMIZERS, blame
from dltrain.train import dry_build as dry
from dltrain.train.metrics import metric_names


def dry_build(*overrides: str, data: str = "synthetic") -> None:
    """No data files are read: fashionmnist (segmentation targets) needs none here either."""
    cfg = compose([f"data={data}", "device=cpu", *overrides])
    validate_composed(cfg)
    dry.dry_build(cfg)


def test_the_default_job_and_zoo_models_pass():
    dry_build()
    dry_build("model=unet", data="fashionmnist")
    dry_build("model=torchvision", "model.arch=resnet18", "data.shape=[3,32,32]")


def test_pretrained_weights_are_neither_read_nor_required(tmp_path):
    """The dry build builds architectures only (missing files are models/checks.py's job)."""
    garbage = tmp_path / "weights.pt"
    garbage.write_bytes(b"not a state dict")
    dry_build(f"model.weights={garbage}")
    dry_build("model=torchvision", "model.arch=resnet18", f"model.weights={garbage}")


def test_the_model_is_built_on_meta(monkeypatch):
    built = []
    original = dry._meta_model

    def spy(section):
        model = original(section)
        built.append(next(model.parameters()).device)
        return model

    monkeypatch.setattr(dry, "_meta_model", spy)
    dry_build("model=torchvision", "model.arch=resnet50", "data.shape=[3,224,224]")
    assert built == [torch.device("meta")]


def test_a_model_meta_cannot_build_is_not_refused(monkeypatch):
    def no_meta(section, load_weights=True):
        raise NotImplementedError("no meta kernel")

    monkeypatch.setattr(dry, "build_model", no_meta)
    dry_build("optimizer.lr=-1")  # nothing is known without the model's parameters


def test_fused_optimizers_are_not_refused_on_meta():
    dry_build("optimizer.fused=true")


def test_sync_bn_needs_cuda():
    with pytest.raises(UserError, match="distributed.sync_bn=true needs CUDA"):
        dry_build("distributed.sync_bn=true")


def test_monitors_are_metrics_the_task_logs():
    assert metric_names("classification") == ("loss", "accuracy")
    assert metric_names("segmentation") == ("loss", "dice", "iou")
    assert metric_names("regression") == ("loss", "mse", "mae")
    with pytest.raises(UserError, match="Did you mean 'val/dice'"):
        dry_build("model=unet", "checkpoint.monitor=val/dic", data="fashionmnist")
    dry_build("model=unet", "checkpoint.monitor=val/iou", data="fashionmnist")
    dry_build("data.val_split=0", "checkpoint.monitor=train/accuracy")
    with pytest.raises(UserError, match="no validation split"):
        dry_build("data.val_split=0", "scheduler=plateau", "checkpoint.monitor=train/loss")


def test_blame_names_the_option_a_constructor_rejects():
    params = [torch.nn.Parameter(torch.zeros(2))]
    adam = OPTIMIZERS.get("adam")
    options = {"lr": 1e-3, "eps": -1.0, "weight_decay": 0.0}
    assert blame(lambda kept: adam(params, **kept), options) == "eps"
    assert blame(lambda kept: adam(params, **kept), {"lr": -1.0, "eps": -1.0}) is None


def test_the_data_must_offer_the_model_tasks_targets():
    with pytest.raises(UserError, match="data 'synthetic' has no segmentation targets"):
        dry_build("model=unet")
