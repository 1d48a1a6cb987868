"""Real `dltrain train` runs with per-group learning rates + onecycle, and with LBFGS."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import yaml

from tests.helpers.cli import dltrain, fast_train_args, read_jsonl


def test_sgd_param_groups_with_onecycle(fmnist_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    result = dltrain(
        *fast_train_args(
            fmnist_root,
            run,
            "trainer.max_epochs=1",
            "optimizer=sgd",
            "optimizer.param_groups=[{match: fc, lr: 0.01}]",
            "scheduler=onecycle",
        )
    )
    assert result.returncode == 0, result.stderr
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["optimizer"]["param_groups"] == [{"match": "fc", "lr": 0.01}]
    events = read_jsonl(run / "metrics.jsonl")
    lrs = [e["lr"] for e in events]  # the default group's: onecycle up to 0.1, then down
    assert max(lrs) > 0.05 and min(lrs) < 1e-5
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    groups = state["optimizer"]["param_groups"]
    assert [g["max_lr"] for g in groups] == [0.1, 0.01]
    assert len(groups[1]["params"]) == 4  # fc.0 and fc.2, weight and bias


def test_lbfgs_trains_with_its_closure(fmnist_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    extra = ("trainer.max_epochs=1", "trainer.max_steps=3", "optimizer=lbfgs")
    result = dltrain(*fast_train_args(fmnist_root, run, *extra, "optimizer.max_iter=5"))
    assert result.returncode == 0, result.stderr
    results = json.loads((run / "results.json").read_text())
    assert math.isfinite(results["test/loss"]) and results["step"] == 3


def test_lbfgs_with_gradient_accumulation_is_refused(fmnist_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    extra = ("optimizer=lbfgs", "trainer.grad_accum=2")
    result = dltrain(*fast_train_args(fmnist_root, run, *extra))
    assert result.returncode == 2
    assert "Set trainer.grad_accum=1" in result.stderr and "Traceback" not in result.stderr
