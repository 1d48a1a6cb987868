"""Optuna's range() agrees with Hydra's basic sweeper: the stop value is never sampled."""

from __future__ import annotations

import pytest

from dltrain.sweep.expand import parse
from dltrain.sweep.space import search_space

optuna = pytest.importorskip("optuna")


def grid(argument: str) -> list:
    (override,) = parse([argument])
    return list(override.sweep_iterator())


def sampled(distribution, trials: int = 200) -> set:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = set()
    for _ in range(trials):
        trial = study.ask({"x": distribution})
        values.add(round(trial.params["x"], 9))
        study.tell(trial, 0.0)
    return values


@pytest.mark.parametrize(
    "argument",
    ["x=range(0.1,0.5,0.1)", "x=range(0,1,0.25)", "x=range(1,9,4)", "x=range(5,1,-1)",
     "x=range(0.5,0.1,-0.1)", "x=range(3)"],
)  # fmt: skip
def test_optuna_range_samples_exactly_the_hydra_grid(argument: str):
    _, space = search_space({}, [argument])
    expected = {round(v, 9) for v in grid(argument)}
    assert sampled(space["x"]) == expected


def test_float_range_excludes_the_stop_like_hydra():
    from optuna.distributions import FloatDistribution, IntDistribution

    _, space = search_space({"optimizer.lr": "range(0.1,0.5,0.1)"}, ["seed=range(1,4)"])
    assert grid("x=range(0.1,0.5,0.1)")[-1] == pytest.approx(0.4)
    assert space["optimizer.lr"] == FloatDistribution(0.1, 0.4, step=0.1)
    assert space["seed"] == IntDistribution(1, 3)
