"""Loggers (csv, tensorboard), gradient norm and progress output, in-process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from dltrain.errors import UserError
from dltrain.loggers import check_loggers
from dltrain.loggers.base import LoggerRun
from dltrain.loggers.csv_logger import CSVLogger
from dltrain.loggers.tensorboard_logger import TensorBoardLogger
from dltrain.loggers.writer import MetricsWriter
from dltrain.train.console import RunClock, run_steps, step_line
from dltrain.train.grad_norm import GradNorm
from dltrain.train.run_files import MetricsFile
from tests.helpers.tensorboard import scalars


def test_grad_norm_is_measured_before_the_step_on_due_steps_only():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    due = [True, False]
    probe = GradNorm(optimizer, due=lambda: due[0])
    model(torch.randn(5, 3)).square().sum().backward()
    expected = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
    optimizer.step()
    assert probe.take() == {"grad_norm": pytest.approx(expected.item())}
    assert probe.take() == {}
    due[0] = False
    optimizer.step()
    assert probe.take() == {}


def test_csv_logger_appends_rewrites_and_follows_a_truncated_jsonl(tmp_path: Path):
    metrics = MetricsFile(tmp_path / "metrics.jsonl")
    writer = MetricsWriter(metrics, [CSVLogger(_run(tmp_path))], enabled=True)
    writer.log_step({"epoch": 1, "step": 2, "train/loss": 0.5})
    writer.log_step({"epoch": 1, "step": 4, "train/loss": float("nan")})
    writer.log_epoch({"epoch": 1, "step": 4, "train/loss": 0.4, "val/loss": 0.3})
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines == ["epoch,step,train/loss,val/loss", "1,2,0.5,", "1,4,,", "1,4,0.4,0.3"]
    metrics.truncate(1)  # a resume from a checkpoint taken after the first event
    resumed = MetricsWriter(metrics, [CSVLogger(_run(tmp_path))], enabled=True)
    resumed.log_step({"epoch": 1, "step": 4, "train/loss": 0.45})
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines == ["epoch,step,train/loss", "1,2,0.5", "1,4,0.45"]
    idle = MetricsWriter(metrics, [CSVLogger(_run(tmp_path))], enabled=False)
    idle.log_step({"epoch": 9, "step": 9})
    assert metrics.lines() == 2, "only rank 0 writes"


def test_tensorboard_resume_purges_what_came_after_the_checkpoint(tmp_path: Path):
    first = TensorBoardLogger(_run(tmp_path))
    for step in (2, 4, 6):
        first.log({"epoch": 1, "step": step, "train/loss": float(step)}, "step")
    first.close()
    resumed = TensorBoardLogger(_run(tmp_path))  # the checkpoint was at step 2
    for step in (4, 6, 8):
        resumed.log({"epoch": 1, "step": step, "train/loss": -float(step)}, "step")
    resumed.close()
    assert scalars(tmp_path / "tensorboard")["step/train_loss"] == [
        (2, 2.0), (4, -4.0), (6, -6.0), (8, -8.0)
    ]  # fmt: skip


def _run(run_dir: Path) -> LoggerRun:
    return LoggerRun(run_dir, {}, resumed=False)


def test_an_uninstalled_logger_is_a_user_error_naming_the_pip_command(monkeypatch):
    picked = {"csv": {"name": "csv"}, "tensorboard": {"name": "tensorboard"}}
    check_loggers(picked)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "tensorboard" else real(n, *a)
    )
    with pytest.raises(UserError, match=r"pip install 'dltrain\[tensorboard\]'"):
        check_loggers(picked)


def test_progress_bar_only_on_a_terminal_and_rank_0(monkeypatch):
    from dltrain.train.console import progress_bar as _progress_bar
    from dltrain.train.state import Progress

    loader = [1, 2, 3]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert _progress_bar(loader, Progress(), 2, "auto", True) is loader
    assert _progress_bar(loader, Progress(), 2, "on", False) is loader
    bar = _progress_bar(loader, Progress(), 2, "on", True)
    assert bar is not loader and bar.total == 3 and bar.desc == "epoch 1/2"
    bar.close()


def test_run_clock_and_step_line():
    assert run_steps(10, {"max_epochs": 3, "max_steps": -1}) == 30
    assert run_steps(10, {"max_epochs": 3, "max_steps": 25}) == 25
    clock = RunClock(100, 20)
    assert clock.eta(20) == "?"
    clock.started -= 8.0  # 10 steps took 8 s: 70 left take 56 s
    assert clock.eta(30) == "0:00:56"
    event = {"epoch": 2, "step": 30, "train/loss": 0.25, "lr": 1e-3, "images_per_sec": 1234.5}
    line = step_line(event, 5, clock)
    assert line.startswith("epoch 2/5  step 30/100  train/loss 0.2500  lr 1.00e-03  1234 img/s")
