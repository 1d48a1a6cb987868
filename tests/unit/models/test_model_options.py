"""The options every model has: model.init (torch.nn.init schemes), model.weights, model.freeze."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.models.build import build_model
from dltrain.models.freeze import freeze, head_name
from dltrain.models.init import SCHEMES, init_weights

MLP = {"name": "mlp", "in_features": 8, "hidden": [16], "num_classes": 3, "dropout": 0.0}


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 64)
    )


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_scheme_applies(scheme: str):
    model = small_net()
    model[1].weight.data.fill_(3.0)
    init_weights(model, {"name": scheme, "val": 0.5} if scheme == "constant" else scheme)
    conv_fits, linear_fits = scheme not in ("eye", "sparse"), scheme != "dirac"
    assert bool(torch.all(model[0].bias == 0)) == conv_fits, "eye/sparse: 2-D weights only"
    assert bool(torch.all(model[4].bias == 0)) == linear_fits, "dirac: conv weights only"
    assert torch.all(model[1].weight == 1), "norm layers: weight 1, bias 0"


def test_schemes_give_the_expected_values():
    relu_gain = math.sqrt(2.0)
    model = small_net()
    init_weights(model, {"name": "constant", "val": 0.5, "bias": 0.1})
    assert torch.all(model[4].weight == 0.5) and torch.all(model[4].bias == 0.1)
    init_weights(model, "xavier_uniform")
    bound = relu_gain * math.sqrt(6.0 / (64 + 64))
    assert model[4].weight.abs().max() <= bound and model[4].weight.abs().max() > 0.9 * bound
    init_weights(model, {"name": "xavier_uniform", "nonlinearity": "tanh"})
    assert model[4].weight.abs().max() <= 5 / 3 * math.sqrt(6.0 / 128)
    init_weights(model, "kaiming_normal")  # std = gain / sqrt(fan_in), fan_in = 64
    assert model[4].weight.std().item() == pytest.approx(relu_gain / 8, rel=0.1)
    init_weights(model, {"name": "normal", "std": 0.01})
    assert model[4].weight.std().item() == pytest.approx(0.01, rel=0.1)
    init_weights(model, {"name": "trunc_normal", "std": 1.0, "a": -0.5, "b": 0.5})
    assert model[4].weight.abs().max() <= 0.5
    init_weights(model, "orthogonal")
    weight = model[4].weight
    assert torch.allclose(weight @ weight.T, 2.0 * torch.eye(64), atol=1e-4)
    init_weights(model, "eye")
    assert torch.equal(model[4].weight, torch.eye(64))
    init_weights(model, "dirac")
    assert model[0].weight[0, 0, 1, 1] == 1 and model[0].weight.sum() == 4
    init_weights(model, {"name": "sparse", "sparsity": 0.5})
    assert ((model[4].weight == 0).sum(dim=0) == 32).all()


def test_init_from_the_model_config():
    model = build_model({**MLP, "init": {"name": "constant", "val": 0.25}})
    assert all(torch.all(p == 0.25) for n, p in model.named_parameters() if "weight" in n)


def test_unknown_scheme_or_option_lists_the_known_ones():
    with pytest.raises(UserError, match="Did you mean 'xavier_uniform'.*Known schemes: "):
        init_weights(small_net(), "xavier_unifrom")
    with pytest.raises(UserError, match="'stdev' is not an option of normal.*std"):
        init_weights(small_net(), {"name": "normal", "stdev": 0.1})
    with pytest.raises(UserError, match="model.init=constant needs val"):
        init_weights(small_net(), "constant")


@pytest.mark.parametrize("wrap", ["plain", "module.", "_orig_mod.", "checkpoint", "state_dict"])
def test_weights_load_with_prefixes_and_wrappers(wrap: str, tmp_path: Path):
    source = build_model({**MLP, "init": {"name": "normal", "std": 0.3}})
    state = source.state_dict()
    if wrap in ("module.", "_orig_mod."):
        state = {wrap + k: v for k, v in state.items()}
    elif wrap == "checkpoint":
        state = {"model": {f"module._orig_mod.{k}": v for k, v in state.items()}, "epoch": 3}
    elif wrap == "state_dict":
        state = {"state_dict": state}
    path = tmp_path / "weights.pt"
    torch.save(state, path)
    model = build_model({**MLP, "weights": str(path)})
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    skipped = build_model({**MLP, "weights": str(path)}, load_weights=False)
    assert not torch.equal(skipped.net[1].weight, source.net[1].weight)


def test_bad_weights_name_the_file_and_the_keys(tmp_path: Path):
    with pytest.raises(UserError, match="model.weights=.*missing.pt: no such file"):
        build_model({**MLP, "weights": str(tmp_path / "missing.pt")})
    other = tmp_path / "other.pt"
    torch.save(build_model({**MLP, "hidden": [32]}).state_dict(), other)
    with pytest.raises(UserError, match=r"other.pt does not fit.*net.1.weight"):
        build_model({**MLP, "weights": str(other)})
    pickled = tmp_path / "pickled.pt"
    torch.save(build_model(MLP), pickled)  # a whole module: not loadable with weights_only
    with pytest.raises(UserError, match="cannot be read safely"):
        build_model({**MLP, "weights": str(pickled)})


def test_freeze_prefixes_and_backbone():
    model = build_model({**MLP, "freeze": ["net.1"]})
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"net.1.weight", "net.1.bias"}
    cnn = build_model(
        {"name": "fmnist_cnn", "in_channels": 1, "num_classes": 10, "freeze": "backbone"}
    )
    assert head_name(cnn) == "fc.2"
    assert [n for n, p in cnn.named_parameters() if p.requires_grad] == ["fc.2.weight", "fc.2.bias"]
    with pytest.raises(UserError, match="no parameters under 'body'.*conv, fc"):
        freeze(cnn, ["body"])


def test_frozen_parameters_stay_out_of_the_optimizer():
    from dltrain.components.optimizers import build_optimizer

    model = build_model({**MLP, "freeze": "backbone"})
    optimizer = build_optimizer({"name": "sgd", "lr": 0.1, "param_groups": []}, model)
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {id(model.net[3].weight), id(model.net[3].bias)}


def test_backbone_of_zoo_models_is_all_but_the_head():
    tv = {"name": "torchvision", "arch": "resnet18", "in_channels": 1, "num_classes": 10}
    resnet = build_model({**tv, "freeze": "backbone"})
    assert [n for n, p in resnet.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    timm_net = build_model(
        {
            "name": "timm",
            "arch": "resnet10t",
            "in_chans": 1,
            "num_classes": 10,
            "freeze": "backbone",
        }
    )
    assert [n for n, p in timm_net.named_parameters() if p.requires_grad] == [
        "fc.weight",
        "fc.bias",
    ]
