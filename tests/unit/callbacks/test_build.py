"""build_callbacks (the dry build's and the run's): options checked against the run, best.pt's
metric, the list's state; and every configs/callbacks option composes, validates, dry-builds."""

from __future__ import annotations

import logging

import pytest

from dltrain.callbacks import Callback
from dltrain.callbacks.callback_list import CallbackList, build_callbacks
from dltrain.config.compose import compose, group_options
from dltrain.config.validate import validate_composed
from dltrain.errors import UserError
from dltrain.registry import CALLBACKS
from dltrain.train.dry_build import dry_build


def _build(sections: dict, monitor: str = "val/accuracy", has_val: bool = True) -> CallbackList:
    return build_callbacks(sections, monitor, "max", "classification", has_val, 10)


def test_order_keys_and_the_metric_best_pt_is_decided_on():
    callbacks = _build({"lr_monitor": {"name": "lr_monitor"}, "ema": {"name": "ema"}})
    assert [c.key for c in callbacks] == ["lr_monitor", "ema"]
    assert callbacks.monitor == "val_ema/accuracy"
    kept_raw = _build({"ema": {"name": "ema", "use_for_best": False}})
    assert kept_raw.monitor == "val/accuracy" and kept_raw.best_weights() is None
    stopper = _build({"ema": {"name": "ema"}, "early_stopping": {"name": "early_stopping"}})
    assert stopper.callbacks[1].monitor == "val_ema/accuracy"  # auto: what best.pt follows
    swa = _build({"swa": {"name": "swa", "use_for_best": False}, "s": {"name": "early_stopping"}})
    assert swa.callbacks[1].monitor == "val/accuracy"


@pytest.mark.parametrize(
    ("sections", "monitor", "has_val", "phrases"),
    [
        (
            {"ema": {"name": "ema", "decai": 0.9}},
            "val/accuracy", True,
            ["callbacks.ema.decai is not an option of callback 'ema'", "Did you mean 'decay'"],
        ),
        (
            {"ema": {"name": "ema", "decay": 1.5}},
            "val/accuracy", True,
            ["callbacks.ema.decay=1.5 is refused", "decay must be in (0, 1)"],
        ),
        (
            {"ema": {"name": "ema"}, "swa": {"name": "swa"}},
            "val/accuracy", True,
            ["callbacks.ema and callbacks.swa both want best.pt", "swa.use_for_best=false"],
        ),
        (
            {"ema": {"name": "ema", "use_for_best": False}},
            "train/loss", False,
            ["callbacks.ema", "validation split", "data.val_split > 0"],
        ),
        (
            {"ema": {"name": "ema", "use_for_best": True}},
            "train/loss", True,
            ["checkpoint.monitor=train/loss is not a val/ metric", "ema.use_for_best=false"],
        ),
        (
            {"early_stopping": {"name": "early_stopping", "monitor": "val_ema/loss"}},
            "val/accuracy", True,
            ["callbacks.early_stopping.monitor=val_ema/loss is not a metric this run logs"],
        ),
        (
            {"swa": {"name": "swa", "start_epoch": 11}},
            "val/accuracy", True,
            ["callbacks.swa.start_epoch=11 is after the last epoch (trainer.max_epochs=10)"],
        ),
    ],
)  # fmt: skip
def test_what_cannot_work_is_refused_naming_the_key(sections, monitor, has_val, phrases):
    with pytest.raises(UserError) as err:
        _build(sections, monitor, has_val)
    for phrase in phrases:
        assert phrase in str(err.value)


def test_a_users_callback_registers_like_a_model(caplog):
    @CALLBACKS.register("counting_test_callback")
    class Counting(Callback):
        def __init__(self, every: int = 1) -> None:
            self.every, self.steps = every, 0

        def on_optimizer_step(self, run, state) -> None:
            self.steps += 1

        def state_dict(self) -> dict:
            return {"steps": self.steps}

        def load_state_dict(self, state) -> None:
            self.steps = state["steps"]

    @CALLBACKS.register("not_a_callback_test")
    class NotOne:
        pass

    callbacks = _build({"mine": {"name": "counting_test_callback", "every": 2}})
    callbacks.on_optimizer_step(None, None)
    assert callbacks.state_dict() == {"mine": {"steps": 1}}
    with caplog.at_level(logging.INFO, logger="dltrain"):
        callbacks.load_state_dict({"gone": {}})  # a checkpoint from before it was added
    assert "callbacks.mine: not in the checkpoint; it starts afresh" in caplog.text
    callbacks.load_state_dict({"mine": {"steps": 7}})
    assert callbacks.callbacks[0].steps == 7
    with pytest.raises(UserError, match="not a dltrain.callbacks.Callback"):
        _build({"x": {"name": "not_a_callback_test"}})


@pytest.mark.parametrize("option", group_options("callbacks"))
def test_every_callback_config_composes_validates_and_dry_builds(option):
    cfg = compose([f"callbacks=[{option}]"])
    validate_composed(cfg)
    dry_build(cfg)
    assert list(cfg.callbacks) == [option] and cfg.callbacks[option].name == option


@pytest.mark.parametrize(
    ("overrides", "phrase"),
    [
        (["callbacks=[ema]", "callbacks.ema.decay=abc"], "bad value for 'callbacks.ema.decay'"),
        (["callbacks=[swa]", "callbacks.swa.start_epoch=21"], "is after the last epoch"),
        (["callbacks.ema.decay=0.9"], "callbacks.ema is not picked: add callbacks=[ema]"),
        (["callbacks=[emma]"], "Did you mean 'ema'?"),
    ],
)
def test_bad_callback_configs_are_user_errors_in_preflight(overrides, phrase):
    with pytest.raises(UserError, match=phrase.replace("[", r"\[").replace("?", r"\?")):
        cfg = compose(overrides)
        validate_composed(cfg)
        dry_build(cfg)
