"""config/task_loss.py: options given with ``loss: auto`` apply to the loss it resolves to."""

from __future__ import annotations

import pytest
import torch

from dltrain.components.losses import build_loss
from dltrain.config.compose import compose
from dltrain.config.freeze import to_plain
from dltrain.config.validate import validate_composed
from dltrain.errors import UserError


def resolved_loss(*overrides: str) -> dict:
    cfg = compose(list(overrides))
    validate_composed(cfg)
    return to_plain(cfg)["loss"]


def test_options_reach_the_built_loss():
    section = resolved_loss("+loss.label_smoothing=0.1", "+loss.weight=[1,1,1,1,1,1,1,1,1,3]")
    assert section["name"] == "cross_entropy" and section["reduction"] == "mean"
    loss = build_loss(section, "classification")
    assert loss.label_smoothing == 0.1
    assert torch.equal(loss.weight, torch.tensor([1.0] * 9 + [3.0]))


def test_segmentation_options_reach_dice_bce():
    section = resolved_loss("model=unet", "+loss.bce_weight=0.25")
    assert section["name"] == "dice_bce" and section["bce_weight"] == 0.25


def test_an_option_the_resolved_loss_lacks_is_refused():
    with pytest.raises(UserError, match="loss.smoothing is not an option of loss 'cross_entropy'"):
        resolved_loss("+loss.smoothing=0.1")
    with pytest.raises(UserError, match="which loss=auto picks for a segmentation model"):
        resolved_loss("model=unet", "+loss.label_smoothing=0.1")


def test_resolving_twice_keeps_the_options():
    """Preflight and Hydra's task function both resolve the same composed config."""
    from dltrain.config.task_loss import resolve_loss

    cfg = compose(["+loss.label_smoothing=0.2"])
    validate_composed(cfg)
    resolve_loss(cfg)
    assert to_plain(cfg)["loss"]["label_smoothing"] == 0.2
