"""trainer.activation_checkpointing recomputes blocks in backward: same loss, same gradients
(dropout included: the RNG state is restored for the recomputation), same state_dict keys."""

from __future__ import annotations

import torch
from torch import nn

from dltrain.models.classic import MLP
from dltrain.models.unet import DoubleConv
from dltrain.train.activation_checkpointing import checkpoint_activations


def _loss_and_grads(model: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, list]:
    torch.manual_seed(1)  # the dropout masks
    loss = model(inputs).float().square().mean()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def _pair(build) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    plain = build()
    torch.manual_seed(0)
    return plain, build()


def test_same_loss_and_gradients_with_and_without():
    for build, names, shape in (
        (lambda: MLP(hidden=[32, 32], dropout=0.5), ["Linear"], (8, 1, 28, 28)),
        (lambda: nn.Sequential(DoubleConv(1, 4), nn.Dropout(0.5)), ["DoubleConv"], (2, 1, 8, 8)),
    ):
        plain, checkpointed = _pair(build)
        keys = list(plain.state_dict())
        assert checkpoint_activations(checkpointed, names) > 0
        assert list(checkpointed.state_dict()) == keys  # checkpoints load as before
        inputs = torch.randn(shape)
        loss_a, grads_a = _loss_and_grads(plain.train(), inputs)
        loss_b, grads_b = _loss_and_grads(checkpointed.train(), inputs)
        assert torch.equal(loss_a, loss_b)
        assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b, strict=True))


def test_no_names_changes_nothing():
    assert checkpoint_activations(MLP(), []) == 0
