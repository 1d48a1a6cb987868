"""Semantic config errors found in preflight: monitored metrics the run does not log or cannot
measure, and loss options under ``loss: auto``.

Refusals are ``dltrain train`` runs on fake FashionMNIST files: exit 2, the key and the fix in
the message, no traceback, nothing written; the case table runs through dltrain's entry point in
the test process, one case also as a real subprocess. The options that now apply are checked on
a short real run's config.yaml and results.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers.cli import dltrain, fast_train_args
from tests.helpers.contract import assert_train_refused

CASES = [
    pytest.param(
        ["checkpoint.monitor=val/acc"],
        ["checkpoint.monitor=val/acc is not a metric", "Did you mean 'val/accuracy'"],
        id="monitor-typo",
    ),
    pytest.param(
        ["checkpoint.monitor=val/dice"],
        ["checkpoint.monitor=val/dice is not a metric", "val/loss, val/accuracy"],
        id="monitor-of-another-task",
    ),
    pytest.param(
        ["data.val_split=0", "checkpoint.monitor=val/loss"],
        ["checkpoint.monitor=val/loss but there is no validation split", "data.val_split > 0"],
        id="val-monitor-without-val-split",
    ),
    pytest.param(
        ["data.val_split=0"],
        ["checkpoint.monitor=val/accuracy (auto for a classification model)", "train/loss"],
        id="auto-monitor-without-val-split",
    ),
    pytest.param(
        ["data.val_split=0", "checkpoint.monitor=train/loss", "scheduler=plateau"],
        ["scheduler.monitor=val/loss but there is no validation split", "scheduler.monitor=train"],
        id="plateau-without-val-split",
    ),
    pytest.param(
        ["scheduler=plateau", "scheduler.monitor=val/acuracy"],
        ["scheduler.monitor=val/acuracy is not a metric", "Did you mean 'val/accuracy'"],
        id="plateau-monitor-typo",
    ),
    pytest.param(
        ["+loss.smoothing=0.1"],
        ["loss.smoothing is not an option of loss 'cross_entropy'", "loss=auto picks"],
        id="auto-loss-unknown-option",
    ),
    pytest.param(
        ["+loss.weight=[1,2,3]"],
        ["loss 'cross_entropy' fails", "10 classes", "Change loss.weight"],
        id="auto-loss-weight-of-wrong-length",
    ),
    pytest.param(
        ["+loss.label_smoothing=1.5"],
        ["loss 'cross_entropy' fails", "Change loss.label_smoothing (now 1.5)"],
        id="auto-loss-bad-smoothing",
    ),
    pytest.param(
        ["loss=cross_entropy", "loss.reduction=none"],
        ["loss.reduction=none is refused", "mean or sum"],
        id="loss-reduction-none",
    ),
]


@pytest.mark.parametrize(("overrides", "phrases"), CASES)
def test_refused_in_preflight(
    overrides: list[str], phrases: list[str], fmnist_root: Path, tmp_path: Path
):
    assert_train_refused(fmnist_root, tmp_path, overrides, phrases)


def test_a_case_is_refused_the_same_in_its_own_process(fmnist_root: Path, tmp_path: Path):
    overrides, phrases = CASES[0].values
    assert_train_refused(fmnist_root, tmp_path, overrides, phrases, own_process=True)


@pytest.mark.slow
def test_options_given_with_loss_auto_reach_the_loss(fmnist_root: Path, tmp_path: Path):
    """Under loss: auto, +loss.label_smoothing and +loss.weight apply to cross_entropy (they
    were dropped before); checkpoint.monitor=train/loss without a validation split works."""
    run = tmp_path / "run"
    weights = "[1,1,1,1,1,1,1,1,1,2]"
    overrides = [
        "+loss.label_smoothing=0.1",
        f"+loss.weight={weights}",
        "data.val_split=0",
        "checkpoint.monitor=train/loss",
    ]
    result = dltrain(*fast_train_args(fmnist_root, run, *overrides), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    loss = OmegaConf.to_container(OmegaConf.load(run / "config.yaml"))["loss"]
    assert loss["name"] == "cross_entropy"
    assert loss["label_smoothing"] == 0.1 and loss["weight"] == json.loads(weights)
    results = json.loads((run / "results.json").read_text())
    assert results["monitor"] == "train/loss" and results["best_epoch"] >= 1
    assert (run / "checkpoints" / "best.pt").is_file()
