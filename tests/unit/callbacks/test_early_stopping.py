"""early_stopping: stops at the right epoch, says why, and its counter survives a resume."""

from __future__ import annotations

import logging

import pytest

from dltrain.callbacks.base import RunFacts
from dltrain.callbacks.early_stopping import EarlyStopping
from dltrain.errors import UserError

LOGGED = ("train/loss", "train/accuracy", "val/loss", "val/accuracy")


def _stopper(**options) -> EarlyStopping:
    stopper = EarlyStopping(**options)
    stopper.key = "early_stopping"
    stopper.resolve(RunFacts("val/accuracy", "max", LOGGED, True, 20))
    return stopper


def _feed(stopper: EarlyStopping, values, first_epoch: int = 1) -> list[int]:
    """Epoch records with val/loss = each value (None: not validated); the epochs trained."""
    trained = []
    for epoch, value in enumerate(values, start=first_epoch):
        if stopper.stop_training:
            break
        trained.append(epoch)
        record = {"epoch": epoch} if value is None else {"epoch": epoch, "val/loss": value}
        stopper.on_epoch_end(None, None, record)
    return trained


def test_stops_after_patience_epochs_without_improvement(caplog):
    stopper = _stopper(monitor="val/loss", patience=2, min_delta=0.01)
    with caplog.at_level(logging.INFO, logger="dltrain"):
        trained = _feed(stopper, [1.0, 0.8, 0.795, None, 0.79, 0.1, 0.1])
    assert trained == [1, 2, 3, 4, 5]  # 0.795 and 0.79 do not beat 0.8 by more than 0.01
    assert stopper.stopped_epoch == 5 and stopper.mode == "min"
    assert (
        "early stopping: val/loss did not improve by 0.01 for 2 epochs (best 0.8000 at epoch 2)"
        in caplog.text
    )
    results: dict = {}
    stopper.on_fit_end(None, None, results)
    assert results == {"stopped_early_at_epoch": 5}


def test_the_counter_survives_a_resume():
    values = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9]
    uninterrupted = _stopper(monitor="val/loss", patience=3)
    assert _feed(uninterrupted, values) == [1, 2, 3, 4, 5]
    first = _stopper(monitor="val/loss", patience=3)
    _feed(first, values[:3])
    resumed = _stopper(monitor="val/loss", patience=3)
    resumed.load_state_dict(first.state_dict())
    assert _feed(resumed, values[3:], first_epoch=4) == [4, 5]
    after_stop = _stopper(monitor="val/loss", patience=3)
    after_stop.load_state_dict(resumed.state_dict())
    assert after_stop.stop_training  # a run that stopped early stays stopped when resumed


def test_patience_zero_and_nan():
    assert _feed(_stopper(monitor="val/loss", patience=0), [1.0, 1.0, 0.5]) == [1, 2]
    assert _feed(_stopper(monitor="val/loss", patience=1), [1.0, float("nan"), 0.5]) == [1, 2]


def test_auto_follows_best_pt_and_a_named_monitor_must_be_logged():
    stopper = EarlyStopping()
    stopper.resolve(RunFacts("val_ema/accuracy", "max", (*LOGGED, "val_ema/accuracy"), True, 9))
    assert (stopper.monitor, stopper.mode) == ("val_ema/accuracy", "max")
    with pytest.raises(UserError, match="callbacks.early_stopping.monitor=val/los is not a metric"):
        _stopper(monitor="val/los")
    stopper = EarlyStopping(monitor="val/loss")
    stopper.key = "early_stopping"
    with pytest.raises(UserError, match="no validation split"):
        stopper.resolve(RunFacts("train/loss", "min", LOGGED, False, 9))
    with pytest.raises(ValueError, match="patience must be a whole number"):
        EarlyStopping(patience=-1)
