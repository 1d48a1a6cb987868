"""Faults of the run itself: exit 1, a message that says what happened and what to do, no
traceback, and only checkpoints that exist are named.

Every fault is produced by a real configuration (no patched code): a learning rate that
overflows, a scheduler that explodes it after the first epoch, weights initialised so large
that every loss overflows, a DDP worker stopped with SIGSTOP.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch

from tests.helpers.cli import dltrain, read_jsonl
from tests.helpers.contract import assert_refused

# A tiny run: 192 training samples in 6 steps per epoch, a step event logged every step.
TINY = [
    "train",
    "data=synthetic",
    "model=mlp",
    "model.hidden=[16]",
    "data.train_size=256",
    "data.val_split=0.25",
    "data.batch_size=32",
    "logging.every_n_steps=1",
]
OVERFLOWING_WEIGHTS = "model.init={name: constant, val: 1e30}"  # inf logits: every loss NaN


def _named_checkpoints(message: str) -> list[Path]:
    return [Path(p) for p in re.findall(r"(/\S+\.pt)\b", message)]


def test_nan_before_any_checkpoint_says_none_was_written(tmp_path: Path):
    run = tmp_path / "run"
    result = dltrain(*TINY, "optimizer=sgd", "optimizer.lr=1e30", f"hydra.run.dir={run}")
    assert_refused(
        result,
        "NaN or infinite by step",
        "No checkpoint was written yet",
        "Lower optimizer.lr",
        exit_code=1,
    )
    assert _named_checkpoints(result.stderr) == []
    assert not (run / "checkpoints").exists()


def test_nan_after_a_checkpoint_names_the_checkpoint_that_exists(tmp_path: Path):
    run = tmp_path / "run"
    # Epoch 1 trains at lr 0.01; the scheduler then multiplies it by 1e30 and epoch 2 diverges.
    result = dltrain(
        *TINY,
        "optimizer=sgd",
        "optimizer.lr=0.01",
        "scheduler=exponential",
        "scheduler.gamma=1e30",
        "trainer.max_epochs=3",
        f"hydra.run.dir={run}",
    )
    assert_refused(result, "NaN or infinite", "The last good checkpoint is", exit_code=1)
    named = _named_checkpoints(result.stderr)
    assert named == [run / "checkpoints" / "last.pt"] * 2, result.stderr  # the path, the fix
    state = torch.load(named[0], weights_only=True)
    assert f"(step {state['progress']['step']})" in result.stderr
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_on_nan_skip_fails_an_epoch_whose_every_step_was_skipped(tmp_path: Path):
    run = tmp_path / "run"
    result = dltrain(
        *TINY,
        OVERFLOWING_WEIGHTS,
        "trainer.on_nan=skip",
        "trainer.max_epochs=3",
        f"hydra.run.dir={run}",
    )
    assert_refused(
        result,
        "trainer.on_nan=skip skipped 6 of the 6 optimizer steps of epoch 1",
        "Lower optimizer.lr",
        "No checkpoint was written yet",
        exit_code=1,
    )
    # The epoch is reported as NaN (null in JSON), not as a perfect 0.0 loss.
    epoch = [e for e in read_jsonl(run / "metrics.jsonl") if "epoch_seconds" in e]
    assert len(epoch) == 1 and epoch[0]["skipped_steps"] == 6
    assert epoch[0]["train/loss"] is None and epoch[0]["train/accuracy"] is None
    assert "epoch 1/3  train/loss nan  train/accuracy nan" in result.stderr + result.stdout
    assert not (run / "checkpoints").exists(), "no checkpoint of weights that learned nothing"


def test_on_nan_skip_after_a_good_epoch_names_its_checkpoint(tmp_path: Path):
    run = tmp_path / "run"
    result = dltrain(
        *TINY,
        "optimizer=sgd",
        "optimizer.lr=0.01",
        "scheduler=exponential",
        "scheduler.gamma=1e30",
        "trainer.on_nan=skip",
        "trainer.max_epochs=3",
        f"hydra.run.dir={run}",
    )
    # Epoch 2's first step (finite loss, lr 1e28) is taken, the rest skipped; from then on
    # every loss overflows, so epoch 3 skips all of its 6 steps.
    assert_refused(
        result, "skipped 6 of the 6 optimizer steps of epoch 3", "(step 12)", exit_code=1
    )
    named = _named_checkpoints(result.stderr)
    assert named == [run / "checkpoints" / "last.pt"] * 2, result.stderr
    assert torch.load(named[0], weights_only=True)["progress"]["step"] == 12
    epochs = [e for e in read_jsonl(run / "metrics.jsonl") if "epoch_seconds" in e]
    assert [e.get("skipped_steps", 0) for e in epochs] == [0, 5, 11]  # counted over the run
    assert math.isfinite(epochs[1]["train/loss"]) and epochs[2]["train/loss"] is None
