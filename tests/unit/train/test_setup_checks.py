"""Settings that need a validation split fail at setup (exit 2), before any epoch is trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from dltrain.errors import UserError
from tests.helpers.viz import train_in_process

TINY = [
    "data=synthetic",
    "model=mlp",
    "data.train_size=64",
    "data.test_size=32",
    "trainer.max_epochs=1",
    "logging.progress=off",
    "device=cpu",
]


def assert_nothing_trained(run_dir: Path) -> None:
    assert not (run_dir / "checkpoints").exists()
    metrics = run_dir / "metrics.jsonl"
    assert not metrics.exists() or metrics.read_text() == ""


def test_plateau_on_val_loss_without_a_validation_split(tmp_path):
    overrides = [*TINY, "data.val_split=0", "scheduler=plateau", "checkpoint.monitor=train/loss"]
    with pytest.raises(UserError, match="scheduler.monitor=val/loss") as error:
        train_in_process(tmp_path, overrides)
    assert "data.val_split > 0 or scheduler.monitor=train/loss" in str(error.value)
    assert error.value.exit_code == 2
    assert_nothing_trained(tmp_path)


def test_checkpoint_monitor_on_val_without_a_validation_split(tmp_path):
    with pytest.raises(UserError, match="checkpoint.monitor=val/accuracy") as error:
        train_in_process(tmp_path, [*TINY, "data.val_split=0"])
    assert "data.val_split > 0 or checkpoint.monitor=train/loss" in str(error.value)
    assert_nothing_trained(tmp_path)


def test_train_monitors_need_no_validation_split(tmp_path):
    overrides = [
        *TINY,
        "data.val_split=0",
        "scheduler=plateau",
        "scheduler.monitor=train/loss",
        "checkpoint.monitor=train/loss",
    ]
    results = train_in_process(tmp_path, overrides)["results"]
    assert results["monitor"] == "train/loss" and results["best_epoch"] == 1
    assert not any(key.startswith("val/") for key in results)
    assert (tmp_path / "checkpoints" / "best.pt").is_file()
