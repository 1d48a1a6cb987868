"""Every scheduler's learning-rate curve equals torch's own class driven by hand."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch.optim import lr_scheduler as L

from dltrain.components.schedulers import LRStepper, build_scheduler
from dltrain.config.compose import compose, group_options
from dltrain.config.freeze import to_plain
from dltrain.errors import UserError
from dltrain.registry import SCHEDULERS

STEPS = 12  # scheduler steps in each curve (and the run's total_steps)


def make_optimizer() -> torch.optim.Optimizer:
    """Two parameter groups with different learning rates, SGD with momentum."""
    torch.manual_seed(0)
    groups = [{"params": [torch.nn.Parameter(torch.ones(2))]}]
    groups.append({"params": [torch.nn.Parameter(torch.ones(2))], "lr": 0.01})
    return torch.optim.SGD(groups, lr=0.1, momentum=0.9)


@functools.cache
def composed(name: str, overrides: tuple[str, ...]) -> dict:
    return to_plain(compose([f"scheduler={name}", *overrides]))["scheduler"]


def ours(name: str, *overrides: str, steps_per_epoch: int = 1) -> tuple[LRStepper, list]:
    optimizer = make_optimizer()
    stepper = build_scheduler(composed(name, overrides), optimizer, steps_per_epoch, STEPS, -1)
    return stepper, optimizer


def curve_of_ours(name: str, *overrides: str, records: list | None = None) -> list:
    """LRs (both groups, and momentum) after each of STEPS steps at the config's interval."""
    stepper, optimizer = ours(name, *overrides)
    points = [state(optimizer)]
    for index in range(STEPS):
        optimizer.step()
        stepper.after_optimizer_step()
        stepper.after_epoch(records[index] if records else {"train/loss": 1.0})
        points.append(state(optimizer))
    return points


def curve_of_torch(make, metrics: list | None = None) -> list:
    optimizer = make_optimizer()
    scheduler = make(optimizer)
    points = [state(optimizer)]
    for index in range(STEPS):
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[index])
        points.append(state(optimizer))
    return points


def state(optimizer: torch.optim.Optimizer) -> list[float]:
    return [v for g in optimizer.param_groups for v in (g["lr"], g.get("momentum", 0.0))]


def same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x == pytest.approx(y, rel=1e-6, abs=1e-12)


CASES = {
    "none": ((), lambda o: L.LambdaLR(o, lambda t: 1.0)),
    "step": (("scheduler.step_size=3",), lambda o: L.StepLR(o, 3, 0.1)),
    "step_decay": (("scheduler.step_size=4",), lambda o: L.StepLR(o, 4, 0.1)),
    "multistep": (
        ("scheduler.milestones=[2,5]", "scheduler.gamma=0.5"),
        lambda o: L.MultiStepLR(o, [2, 5], 0.5),
    ),
    "constant": ((), lambda o: L.ConstantLR(o, 1 / 3, 5)),
    "linear": ((), lambda o: L.LinearLR(o, 1 / 3, 1.0, 5)),
    "exponential": ((), lambda o: L.ExponentialLR(o, 0.95)),
    "polynomial": (("scheduler.power=2.0",), lambda o: L.PolynomialLR(o, STEPS, 2.0)),
    "cosine": (("scheduler.eta_min=0.001",), lambda o: L.CosineAnnealingLR(o, STEPS, 0.001)),
    "cosine_warm_restarts": (
        ("scheduler.T_0=3", "scheduler.T_mult=2", "scheduler.eta_min=0.001"),
        lambda o: L.CosineAnnealingWarmRestarts(o, 3, 2, 0.001),
    ),
    "cyclic": (
        ("scheduler.step_size_up=3", "scheduler.mode=triangular2"),
        lambda o: L.CyclicLR(o, 1e-4, [0.1, 0.01], step_size_up=3, mode="triangular2"),
    ),
    "onecycle": ((), lambda o: L.OneCycleLR(o, [0.1, 0.01], total_steps=STEPS)),
    "lambda": (
        ("scheduler.step_size=3", "scheduler.gamma=0.5"),
        lambda o: L.LambdaLR(o, lambda t: 0.5 ** (t // 3)),
    ),
    "multiplicative": ((), lambda o: L.MultiplicativeLR(o, lambda t: 0.95)),
    "sequential": (
        (),
        lambda o: L.SequentialLR(
            o, [L.LinearLR(o, 0.1, 1.0, 5), L.CosineAnnealingLR(o, STEPS - 5)], milestones=[5]
        ),
    ),
    "chained": (
        (),
        lambda o: L.ChainedScheduler([L.ConstantLR(o, 0.1, 2), L.ExponentialLR(o, 0.9)], o),
    ),
    "warmup_cosine": (
        ("scheduler.warmup_steps=4", "scheduler.eta_min=0.001"),
        lambda o: L.SequentialLR(
            o,
            [L.LinearLR(o, 0.01, 1.0, 4), L.CosineAnnealingLR(o, STEPS - 4, 0.001)],
            milestones=[4],
        ),
    ),
}


def test_every_scheduler_has_a_config_with_an_interval_and_a_curve_test():
    assert set(group_options("scheduler")) == set(SCHEDULERS.names())
    assert set(CASES) | {"plateau"} == set(SCHEDULERS.names())
    for name in SCHEDULERS.names():
        assert composed(name, ())["interval"] in ("epoch", "step"), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_lr_curve_matches_torch(name: str):
    overrides, make = CASES[name]
    same(curve_of_ours(name, *overrides), curve_of_torch(make))


@pytest.mark.parametrize(
    ("overrides", "factor"),
    [
        (("scheduler.lr_lambda=constant",), lambda t: 1.0),
        (("scheduler.lr_lambda=exponential", "scheduler.gamma=0.8"), lambda t: 0.8**t),
        (
            ("scheduler.lr_lambda=linear_decay", "scheduler.end_factor=0.2"),
            lambda t: 1 - 0.8 * t / STEPS,
        ),
        (
            ("scheduler.lr_lambda=warmup", "scheduler.warmup_steps=3"),
            lambda t: min(1.0, (t + 1) / 4),
        ),
    ],
)
def test_named_lambdas(overrides, factor):
    same(curve_of_ours("lambda", *overrides), curve_of_torch(lambda o: L.LambdaLR(o, factor)))


def test_named_multipliers():
    overrides = ("scheduler.lr_lambda=step_decay", "scheduler.step_size=4", "scheduler.gamma=0.5")
    expected = curve_of_torch(lambda o: L.MultiplicativeLR(o, lambda t: 0.5 if t % 4 == 0 else 1))
    same(curve_of_ours("multiplicative", *overrides), expected)


def test_an_unknown_lambda_name_lists_the_known_ones():
    with pytest.raises(UserError, match="Did you mean 'step_decay'.*Known: constant, expon"):
        ours("lambda", "scheduler.lr_lambda=step_decy")


def test_warmup_cosine_by_hand():
    curve = curve_of_ours("warmup_cosine", "scheduler.warmup_steps=2")
    lrs = [point[0] for point in curve]
    assert lrs[:3] == pytest.approx([0.001, 0.1 * (0.01 + 0.99 / 2), 0.1])
    middle = 2 + (STEPS - 2) // 2
    assert lrs[middle] == pytest.approx(0.05)
    assert lrs[STEPS] == pytest.approx(0.0, abs=1e-12)


def test_plateau_steps_on_the_monitored_metric():
    losses = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    records = [{"train/loss": 2.0, "val/loss": v} for v in losses]
    overrides = ("scheduler.patience=1", "scheduler.factor=0.5")
    expected = curve_of_torch(lambda o: L.ReduceLROnPlateau(o, patience=1, factor=0.5), losses)
    same(curve_of_ours("plateau", *overrides, records=records), expected)
    accuracy = [{"val/accuracy": 1 - v} for v in losses]
    overrides = ("scheduler.monitor=val/accuracy", "scheduler.mode=max", "scheduler.patience=1")
    expected = curve_of_torch(
        lambda o: L.ReduceLROnPlateau(o, "max", patience=1), [1 - v for v in losses]
    )
    same(curve_of_ours("plateau", *overrides, records=accuracy), expected)


def test_plateau_waits_for_validated_epochs_and_names_a_missing_metric():
    stepper, optimizer = ours("plateau", "scheduler.patience=0")
    stepper.after_epoch({"train/loss": 1.0})  # validation did not run this epoch: no step
    assert stepper.scheduler.last_epoch == 0
    stepper.after_epoch({"train/loss": 1.0, "val/loss": 1.0})
    assert stepper.scheduler.last_epoch == 1
    with pytest.raises(UserError, match="scheduler.monitor=val/loss is not a logged metric"):
        stepper.after_epoch({"train/loss": 1.0, "val/accuracy": 0.5})
    stepper, _ = ours("plateau", "scheduler.monitor=train/acc")
    with pytest.raises(UserError, match="Logged: train/loss"):
        stepper.after_epoch({"train/loss": 1.0})
    with pytest.raises(UserError, match="set scheduler.interval=epoch"):
        ours("plateau", "scheduler.interval=step")
    with pytest.raises(UserError, match="must name a logged metric"):
        ours("plateau", "scheduler.monitor=loss")


def test_total_steps_follow_the_interval_and_max_steps():
    optimizer = make_optimizer()
    stepper = build_scheduler(composed("onecycle", ()), optimizer, 5, 3, -1)
    assert stepper.scheduler.total_steps == 15
    stepper = build_scheduler(composed("onecycle", ()), make_optimizer(), 5, 3, 7)
    assert stepper.scheduler.total_steps == 7
    epochs = ("scheduler.interval=epoch",)
    stepper = build_scheduler(composed("onecycle", epochs), make_optimizer(), 5, 3, -1)
    assert stepper.scheduler.total_steps == 3
    stepper = build_scheduler(composed("cosine", ()), make_optimizer(), 5, 3, -1)
    assert stepper.scheduler.T_max == 15


def test_max_lr_given_explicitly():
    stepper, optimizer = ours("onecycle", "scheduler.max_lr=1.0")
    assert [g["max_lr"] for g in optimizer.param_groups] == [1.0, 1.0]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1.0 / 25)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (("scheduler.milestones=[]",), "one milestone between each pair"),
        (("scheduler.schedulers=[{name: plateau}, {name: cosine}]",), "cannot be part of a list"),
        (("scheduler.schedulers=[{name: none}, {name: cosine}]",), "cannot be part of a list"),
        (
            ("scheduler.schedulers=[{name: linear, interval: step}, {name: cosine}]",),
            "set interval on the outer scheduler",
        ),
        (("scheduler.schedulers=[{start_factor: 0.1}, {name: cosine}]",), "must be a config"),
        (
            ("scheduler.schedulers=[{name: linear, foo: 1}, {name: cosine}]",),
            r"scheduler\.schedulers\[0\]\.foo",
        ),
    ],
)
def test_sequential_errors(overrides, expected):
    with pytest.raises(UserError, match=expected):
        ours("sequential", *overrides)


def test_sequential_parts_that_span_the_run_span_their_stretch():
    overrides = ("scheduler.schedulers=[{name: constant, factor: 0.5}, {name: polynomial}]",)
    stepper, _ = ours("sequential", *overrides)
    linear, poly = stepper.scheduler._schedulers
    assert poly.total_iters == STEPS - 5 and math.isclose(linear.factor, 0.5)


@pytest.mark.parametrize("name", sorted(SCHEDULERS.names()))
def test_every_scheduler_steps_adam_and_its_state_loads_safely(name: str, tmp_path):
    """With the default optimizer (Adam: cyclic/onecycle cycle beta1) and a checkpoint
    round trip through torch.load(weights_only=True), as resuming does."""
    from dltrain.components.optimizers import build_optimizer

    model = torch.nn.Linear(3, 2)
    optimizer = build_optimizer(to_plain(compose([]))["optimizer"], model)
    stepper = build_scheduler(composed(name, ()), optimizer, 4, 3, -1)
    for _ in range(4):
        optimizer.step()
        stepper.after_optimizer_step()
    stepper.after_epoch({"train/loss": 1.0, "val/loss": 0.5})
    torch.save(stepper.state_dict(), tmp_path / "state.pt")
    again = build_scheduler(composed(name, ()), optimizer, 4, 3, -1)
    again.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert again.state_dict() == stepper.state_dict()
