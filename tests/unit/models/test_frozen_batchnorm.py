"""Frozen means frozen: model.freeze keeps the frozen part's BatchNorm statistics, freeze_bn all
of them, through model.train() on the model and on the wrappers the run puts around it."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributed as dist
from torch import nn

from dltrain.models.batchnorm import convert_sync_batchnorm, kept_in_eval
from dltrain.models.options import apply_shared


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.flat = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.BatchNorm1d(8))
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flat(self.body(self.stem(x))))


def built(**shared: object) -> nn.Module:
    torch.manual_seed(0)
    return apply_shared(Net(), shared)


def statistics(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "batches" in k}


def train_steps(model: nn.Module, trained: nn.Module | None = None, steps: int = 3) -> None:
    """What the loop does: model.train() on the model it trains, forward, backward, step."""
    trained = trained or model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.1)
    trained.train()
    for step in range(steps):
        torch.manual_seed(step)
        loss = nn.functional.cross_entropy(trained(torch.randn(8, 1, 8, 8)), torch.arange(8) % 3)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def changed(before: dict[str, torch.Tensor], model: nn.Module) -> set[str]:
    after = statistics(model)
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_freeze_keeps_the_frozen_parts_statistics_bitwise():
    model = built(freeze=["stem"])
    before = statistics(model)
    train_steps(model)
    moved = changed(before, model)
    assert not any(k.startswith("stem.") for k in moved)
    assert {"body.1.running_mean", "flat.2.running_var"} <= moved
    assert not model.stem[1].training and model.body[1].training
    assert kept_in_eval(model) == ["stem.1"]


def test_backbone_keeps_every_statistic_outside_the_head():
    model = built(freeze="backbone")
    before = statistics(model)
    train_steps(model)
    assert changed(before, model) == set()


def test_freeze_bn_keeps_every_statistic_while_the_affine_weights_train():
    model = built(freeze_bn=True)
    weight = model.body[1].weight.detach().clone()
    before = statistics(model)
    train_steps(model)
    assert changed(before, model) == set()
    assert model.body[1].weight.requires_grad
    assert not torch.equal(weight, model.body[1].weight)


def test_state_dict_keys_and_types_are_those_of_the_plain_model():
    plain, frozen = built(), built(freeze=["stem", "body"], freeze_bn=True)
    assert list(frozen.state_dict()) == list(plain.state_dict())
    assert type(frozen.stem[1]) is nn.BatchNorm2d
    plain.load_state_dict(frozen.state_dict())  # eval, predict, export load it as before


def test_copies_and_compiled_wrappers_keep_it():
    model = built(freeze=["stem"])
    twin = copy.deepcopy(model)  # e.g. an averaged copy of the weights
    twin.train()
    assert not twin.stem[1].training and twin.body[1].training
    assert model.stem[1] is not twin.stem[1]
    compiled = torch.compile(model)  # .train() is not traced: no compile happens here
    compiled.train()
    assert not model.stem[1].training and model.body[1].training


def test_sync_batchnorm_conversion_keeps_frozen_layers_in_eval():
    model = convert_sync_batchnorm(built(freeze=["stem"]))
    assert isinstance(model.stem[1], nn.SyncBatchNorm)
    model.train()
    assert not model.stem[1].training and model.body[1].training
    assert kept_in_eval(model) == ["stem.1"]


@pytest.fixture
def one_process_group():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_ddp_train_keeps_frozen_statistics(one_process_group):
    model = built(freeze=["stem"])
    before = statistics(model)
    train_steps(model, nn.parallel.DistributedDataParallel(model))
    moved = changed(before, model)
    assert not any(k.startswith("stem.") for k in moved) and "body.1.running_mean" in moved
