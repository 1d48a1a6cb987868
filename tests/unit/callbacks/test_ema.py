"""ema: the average after N optimizer steps equals the formula worked by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dltrain.callbacks.ema import EMA


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _hand_decay(step: int, decay: float, warmup: bool, power: float, gamma: float) -> float:
    """timm's schedule: the first step copies, then min(decay, 1 - (1 + (t-1)/gamma)^-power)."""
    t = step - 1
    if t <= 0:
        return 0.0
    return min(decay, 1 - (1 + t / gamma) ** -power) if warmup else decay


@pytest.mark.parametrize(("warmup", "every"), [(True, 2), (False, 1)])
def test_ema_weights_equal_a_hand_computation_after_n_steps(warmup, every):
    model = _model()
    ema = EMA(decay=0.9, warmup=warmup, warmup_power=0.75, warmup_gamma=2.0, every_n_steps=every)
    run, state = SimpleNamespace(model=model, monitor="val_ema/accuracy"), SimpleNamespace()
    state.progress = SimpleNamespace(step=0)
    ema.on_fit_start(run, state)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(1, 8):
        optimizer.zero_grad()
        model(torch.randn(8, 3)).square().mean().backward()  # BatchNorm statistics move too
        optimizer.step()
        state.progress.step = step
        ema.on_optimizer_step(run, state)
        if step % every:
            continue
        d = _hand_decay(step, 0.9, warmup, 0.75, 2.0)
        for key, value in model.state_dict().items():
            floats = value.is_floating_point()
            expected[key] = d * expected[key] + (1 - d) * value if floats else value.clone()
    averaged = ema.averaged_module().state_dict()
    assert averaged.keys() == expected.keys()
    for key, value in averaged.items():
        torch.testing.assert_close(value, expected[key], rtol=1e-6, atol=1e-7)
    assert not torch.equal(averaged["0.weight"], model.state_dict()["0.weight"])


def test_ema_state_round_trip_continues_the_same_average():
    model, other = _model(), _model()
    with torch.no_grad():
        other[0].weight.add_(1.0)
    first, second = EMA(decay=0.5), EMA(decay=0.5)
    state = SimpleNamespace(progress=SimpleNamespace(step=0))
    first.on_fit_start(SimpleNamespace(model=model, monitor="val/loss"), state)
    for step in (1, 2, 3):
        state.progress.step = step
        with torch.no_grad():
            model[0].weight.mul_(0.9)
        first.on_optimizer_step(None, state)
    second.on_fit_start(SimpleNamespace(model=other, monitor="val/loss"), state)
    second.load_state_dict(first.state_dict())
    for key, value in first.averaged_module().state_dict().items():
        assert torch.equal(value, second.averaged_module().state_dict()[key])
    assert torch.equal(first.best_weights()["0.weight"], first.averaged_module()[0].weight)


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        ({"decay": 1.0}, "decay must be in (0, 1)"),
        ({"every_n_steps": 0}, "every_n_steps must be 1 or more"),
        ({"warmup_power": 0}, "must be positive"),
        ({"use_for_best": "yes"}, "use_for_best must be true or false"),
    ],
)
def test_bad_options_are_refused(options, phrase):
    with pytest.raises(ValueError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        EMA(**options)
