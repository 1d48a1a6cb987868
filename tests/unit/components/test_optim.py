"""Every optimizer from its config, per-group options, fit checks, and LBFGS's closure step."""

from __future__ import annotations

import copy
import functools
import inspect

import pytest
import torch
from torch import nn

from dltrain.components.optimizers import build_optimizer
from dltrain.config.compose import compose, group_options
from dltrain.config.freeze import to_plain
from dltrain.errors import UserError
from dltrain.registry import OPTIMIZERS
from dltrain.train.loop import StepConfig, StepParts, train_one_epoch
from dltrain.train.metrics import metrics_for
from dltrain.train.precision import Precision
from dltrain.train.state import TrainState


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
        self.fc = nn.Sequential(nn.Linear(6, 3))
        self.fc2 = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc(self.features(x)))


class Bag(nn.Module):
    def __init__(self, sparse: bool = True) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4, sparse=sparse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x).sum()


@functools.cache
def composed(name: str, overrides: tuple[str, ...]) -> dict:
    return to_plain(compose([f"optimizer={name}", *overrides]))["optimizer"]


def section(name: str, *overrides: str) -> dict:
    return copy.deepcopy(composed(name, overrides))


def loss_of(model: nn.Module) -> torch.Tensor:
    torch.manual_seed(1)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    return nn.functional.cross_entropy(model(x), y)


def test_every_optimizer_has_a_config_with_all_its_options():
    assert set(group_options("optimizer")) == set(OPTIMIZERS.names())
    for name in OPTIMIZERS.names():
        keys = set(section(name)) - {"name", "param_groups"}
        options = set(inspect.signature(OPTIMIZERS.get(name)).parameters) - {"self", "params"}
        assert keys == options, name
        assert section(name)["param_groups"] == []


DENSE = sorted(set(OPTIMIZERS.names()) - {"sparse_adam", "lbfgs"})


@pytest.mark.parametrize("name", DENSE)
def test_each_optimizer_steps_like_torchs_own(name: str):
    torch.manual_seed(0)
    model = Net()
    twin = copy.deepcopy(model)
    options = {k: v for k, v in section(name).items() if k not in ("name", "param_groups")}
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    ours = build_optimizer(section(name), model)
    theirs = OPTIMIZERS.get(name)(twin.parameters(), **options)
    for _ in range(3):
        for net, opt in ((model, ours), (twin, theirs)):
            opt.zero_grad()
            loss_of(net).backward()
            opt.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert type(ours) is type(theirs)


def test_lbfgs_steps_like_torchs_own_with_a_closure():
    torch.manual_seed(0)
    model = Net()
    twin = copy.deepcopy(model)
    ours = build_optimizer(section("lbfgs"), model)
    theirs = torch.optim.LBFGS(twin.parameters(), line_search_fn="strong_wolfe")
    for net, opt in ((model, ours), (twin, theirs)):

        def closure(net=net, opt=opt):
            opt.zero_grad()
            loss = loss_of(net)
            loss.backward()
            return loss

        opt.step(closure)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_the_tutorials_sgd_demo():
    weight = nn.Parameter(torch.tensor([[-0.3077, -0.1808], [-0.7462, -1.5556]]))
    model = nn.Module()
    model.weight = weight
    optimizer = build_optimizer(section("sgd", "optimizer.momentum=0.9"), model)
    weight.grad = torch.ones(2, 2)
    optimizer.step()
    expected = torch.tensor([[-0.4077, -0.2808], [-0.8462, -1.6556]])
    torch.testing.assert_close(weight.detach(), expected)


def test_param_groups_by_module_prefix_with_frozen_parameters_left_out():
    model = Net()
    model.features[0].bias.requires_grad_(False)
    groups = "[{match: fc, lr: 0.01, momentum: 0.5}, {match: fc2.bias, lr: 0.2}]"
    optimizer = build_optimizer(section("sgd", f"optimizer.param_groups={groups}"), model)
    default, fc, fc2_bias = optimizer.param_groups
    assert default["lr"] == 0.1 and default["momentum"] == 0.0
    assert [p.shape for p in default["params"]] == [(6, 4), (3, 3)]  # frozen bias left out
    assert fc["lr"] == 0.01 and fc["momentum"] == 0.5
    assert fc["params"] == list(model.fc.parameters())  # not fc2: whole name parts only
    assert fc2_bias["params"] == [model.fc2.bias] and fc2_bias["lr"] == 0.2


def test_param_group_lists_become_tuples_and_longest_match_wins():
    model = Net()
    groups = "[{match: fc, betas: [0.8, 0.9]}, {match: fc.0, lr: 0.5}]"
    optimizer = build_optimizer(section("adam", f"optimizer.param_groups={groups}"), model)
    # every fc parameter went to the longer match fc.0, so the fc group is dropped
    assert len(optimizer.param_groups) == 2 and optimizer.param_groups[1]["lr"] == 0.5
    groups = "[{match: fc, betas: [0.8, 0.9]}]"
    optimizer = build_optimizer(section("adam", f"optimizer.param_groups={groups}"), model)
    assert optimizer.param_groups[1]["betas"] == (0.8, 0.9)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("[{match: head, lr: 0.1}]", "selects no trainable parameter.*features, fc, fc2"),
        ("[{match: fc, lrr: 0.1}]", r"param_groups\[0\].lrr is not an option.*Did you mean 'lr'"),
        ("[{lr: 0.1}]", "needs a match"),
    ],
)
def test_param_group_errors(groups: str, expected: str):
    with pytest.raises(UserError, match=expected):
        build_optimizer(section("sgd", f"optimizer.param_groups={groups}"), Net())


def test_a_match_on_frozen_parameters_only_is_an_error():
    model = Net()
    model.fc.requires_grad_(False)
    with pytest.raises(UserError, match="match=fc selects no trainable parameter"):
        build_optimizer(section("sgd", "optimizer.param_groups=[{match: fc}]"), model)
    model.requires_grad_(False)
    with pytest.raises(UserError, match="no trainable parameters"):
        build_optimizer(section("sgd"), model)


def test_sparse_adam_fits_sparse_embeddings_only():
    model = Bag()
    optimizer = build_optimizer(section("sparse_adam"), model)
    before = model.embed.weight.detach().clone()
    model(torch.tensor([1, 2, 2])).backward()
    optimizer.step()
    changed = (model.embed.weight != before).any(dim=1)
    assert changed.tolist() == [i in (1, 2) for i in range(10)]
    for dense in (Bag(sparse=False), Net()):
        with pytest.raises(UserError, match="only fits parameters with sparse gradients"):
            build_optimizer(section("sparse_adam"), dense)


def test_lbfgs_refuses_what_it_cannot_do():
    with pytest.raises(UserError, match="remove optimizer.param_groups"):
        build_optimizer(section("lbfgs", "optimizer.param_groups=[{match: fc}]"), Net())
    for run, fix in (
        ({"grad_accum": 2}, "trainer.grad_accum=1"),
        ({"precision": "fp16"}, "precision=fp32 or bf16"),
        ({"grad_clip": 1.0}, "trainer.grad_clip=null"),
    ):
        with pytest.raises(UserError, match=fix):
            build_optimizer(section("lbfgs"), Net(), **run)
    build_optimizer(section("adam"), Net(), grad_accum=2, precision="fp16", grad_clip=1.0)


def test_a_bad_option_value_is_a_user_error():
    with pytest.raises(UserError, match="cannot build optimizer 'adam'"):
        build_optimizer(section("adam", "optimizer.lr=-1.0"), Net())


def batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(3)
    x = torch.randn(n * 16, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return list(zip(x.split(16), y.split(16), strict=True))


def run_epoch(optimizer_name: str, data: list, settings: StepConfig) -> nn.Module:
    torch.manual_seed(0)
    model = Net()
    optimizer = build_optimizer(section(optimizer_name), model)
    cpu = torch.device("cpu")
    precision = Precision("fp32", cpu)
    parts = StepParts(model, nn.CrossEntropyLoss(), optimizer, precision, cpu, settings)
    state = TrainState(metrics_for("classification", cpu))
    train_one_epoch(parts, data, state, lambda loss: False)
    assert state.progress.step == len(data) // settings.grad_accum
    return model


def test_the_loop_steps_lbfgs_with_a_closure_like_by_hand():
    data = batches(3)
    model = run_epoch("lbfgs", data, StepConfig())
    torch.manual_seed(0)
    twin = Net()
    optimizer = torch.optim.LBFGS(twin.parameters(), line_search_fn="strong_wolfe")
    for x, y in data:

        def closure(x=x, y=y):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(twin(x), y)
            loss.backward()
            return loss

        optimizer.step(closure)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_full_batch_lbfgs_learns():
    data = batches(1)
    torch.manual_seed(0)
    before = nn.functional.cross_entropy(Net()(data[0][0]), data[0][1]).item()
    model = run_epoch("lbfgs", data, StepConfig())
    assert nn.functional.cross_entropy(model(data[0][0]), data[0][1]).item() < 0.8 * before


def test_lbfgs_with_gradient_accumulation_is_refused_at_build():
    with pytest.raises(UserError, match="trainer.grad_accum=1"):
        build_optimizer(section("lbfgs"), Net(), grad_accum=2)


def test_param_groups_see_through_ddp_and_compile_prefixes():
    class Wrapper(nn.Module):  # names its child "module", as DistributedDataParallel does
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.module = inner

    model = Wrapper(Net())
    optimizer = build_optimizer(section("sgd", "optimizer.param_groups=[{match: fc2}]"), model)
    assert optimizer.param_groups[1]["params"] == list(model.module.fc2.parameters())
    with pytest.raises(UserError, match="Top-level modules: features, fc, fc2"):
        build_optimizer(section("sgd", "optimizer.param_groups=[{match: head}]"), model)
