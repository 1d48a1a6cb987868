"""swa: an equal average of each epoch's weights from start_epoch on, SWALR from then, and the
average's BatchNorm statistics recomputed over the training batches before it is validated."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dltrain.callbacks.base import RunFacts
from dltrain.callbacks.swa import SWA
from dltrain.errors import UserError
from dltrain.train.precision import Precision
from dltrain.train.run import Run


class Scheduler:
    """The configured scheduler: records the epochs it was stepped in."""

    def __init__(self) -> None:
        self.steps, self.epochs = 0, []

    def after_optimizer_step(self) -> None:
        self.steps += 1

    def after_epoch(self, record) -> None:
        self.epochs.append(record["epoch"])


class Batches(list):
    """A loader: batches of (inputs, targets) and a sampler SWA rewinds to the epoch's start."""

    sampler = SimpleNamespace(set_epoch=lambda epoch, start=0: None)


_FSDP_OFF = SimpleNamespace(reshard_after_forward=True)  # Run.evaluate reads it


def _swa(model: nn.Module, max_epochs: int = 4, **options):
    swa = SWA(**options)
    swa.key = "swa"
    swa.resolve(RunFacts("val/loss", "min", None, True, max_epochs))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = SimpleNamespace(
        model=model, step=SimpleNamespace(optimizer=optimizer), scheduler=Scheduler(),
        monitor="val_swa/loss",
    )  # fmt: skip
    state = SimpleNamespace(progress=SimpleNamespace(epoch=1, step=0))
    inner = run.scheduler
    swa.on_fit_start(run, state)
    return swa, run, state, inner


def test_swa_averages_each_epoch_from_start_epoch_and_swalr_takes_over():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    swa, run, state, inner = _swa(model, start_epoch=2, swa_lr=0.05, anneal_epochs=1)
    optimizer, seen = run.step.optimizer, []
    for epoch in range(1, 5):
        state.progress.epoch = epoch
        for _ in range(3):
            optimizer.zero_grad()
            model(torch.randn(4, 3)).square().mean().backward()
            optimizer.step()
            run.scheduler.after_optimizer_step()
        record = {"epoch": epoch}
        swa.on_train_epoch_end(run, state, record)
        run.scheduler.after_epoch(record)
        if epoch >= 2:
            seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    averaged = swa.averaged_module().state_dict()
    for key, value in averaged.items():
        mean = torch.stack([weights[key] for weights in seen]).mean(0)
        torch.testing.assert_close(value, mean)
    assert inner.steps == 3 and inner.epochs == [1]  # the configured scheduler: epoch 1 only
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)  # SWALR annealed in 1 epoch
    restored, *_ = _swa(nn.Linear(3, 2), start_epoch=2, swa_lr=0.05, anneal_epochs=1)
    restored.load_state_dict(swa.state_dict())
    assert torch.equal(restored.averaged_module().weight, swa.averaged_module().weight)
    assert restored.schedule.state_dict()["_step_count"] == swa.schedule.state_dict()["_step_count"]


def test_batchnorm_statistics_are_recomputed_before_validation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 2))
    swa, run, state, _ = _swa(model, start_epoch=1)
    inputs = torch.randn(4, 8, 3) * 3 + 1
    train = Batches((x, torch.zeros(8, dtype=torch.long)) for x in inputs)
    run.loaders = SimpleNamespace(train=train, val=Batches(train[:2]))
    run.step.loss_fn = nn.CrossEntropyLoss()
    run.step.settings = SimpleNamespace(channels_last=False)
    run.step.precision = Precision("fp32", torch.device("cpu"))
    run.device, run.task, run.cfg = (
        torch.device("cpu"),
        "classification",
        SimpleNamespace(metrics=[], distributed=SimpleNamespace(fsdp=_FSDP_OFF)),
    )
    run.evaluate = partial(Run.evaluate, run)  # the real Run's evaluation on these parts
    record = {"epoch": 1}
    swa.on_validation_end(run, state, record)
    assert record == {"epoch": 1}  # nothing averaged yet: nothing to validate
    swa.on_train_epoch_end(run, state, record)
    swa.on_validation_end(run, state, record)
    batchnorm = swa.averaged_module()[0]
    torch.testing.assert_close(batchnorm.running_mean, inputs.reshape(-1, 3).mean(0))
    assert set(record) == {"epoch", "val_swa/loss", "val_swa/accuracy"}


def test_start_epoch_as_a_fraction_and_after_the_last_epoch():
    swa = SWA(start_epoch=0.75)
    swa.key = "swa"
    swa.resolve(RunFacts("val/loss", "min", None, True, 20))
    assert swa.first_epoch == 16
    late = SWA(start_epoch=25)
    late.key = "swa"
    with pytest.raises(UserError, match=r"callbacks.swa.start_epoch=25 is after the last epoch"):
        late.resolve(RunFacts("val/loss", "min", None, True, 20))
    with pytest.raises(ValueError, match="fraction of the run must be in"):
        SWA(start_epoch=1.5)


def test_update_bn_keeps_the_statistics_of_frozen_batchnorm() -> None:
    """model.freeze / freeze_bn layers keep their statistics through SWA's update_bn."""
    from dltrain.callbacks.swa import _update_unfrozen_bn
    from dltrain.models.batchnorm import keep_in_eval

    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 4, 3),
        torch.nn.BatchNorm2d(4),
    )  # fmt: skip
    model[1].running_mean.fill_(0.5)
    keep_in_eval(model, ["1"])
    _update_unfrozen_bn([(torch.randn(8, 1, 10, 10), torch.zeros(8))], model, torch.device("cpu"))
    assert torch.equal(model[1].running_mean, torch.full((4,), 0.5))
    assert not torch.equal(model[3].running_mean, torch.zeros(4))
