"""Checkpointer on CPU, in one process: save -> restore round trip, atomic files, keep_last."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from dltrain.distributed.context import DistContext
from dltrain.errors import UserError
from dltrain.train.checkpointer import Checkpointer
from dltrain.train.metrics import metrics_for
from dltrain.train.run_files import MetricsFile
from dltrain.train.state import Best, Progress, TrainState


def _parts(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    return {"model": model, "optimizer": optimizer, "scheduler": scheduler}


def _train(parts, steps: int) -> None:
    model, optimizer = parts["model"], parts["optimizer"]
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(5, 4)).square().mean().backward()
        optimizer.step()
        parts["scheduler"].step()


def _checkpointer(run: Path, parts, keep_last: int = 0) -> Checkpointer:
    metrics = MetricsFile(run / "metrics.jsonl")
    cfg = {"seed": 0, "model": {"name": "tiny"}}
    return Checkpointer(run / "checkpoints", DistContext(), parts, metrics, cfg, keep_last)


def _state(progress: Progress | None = None, best: Best | None = None, sums=(0.0, 0.0, 0.0)):
    """A TrainState whose epoch sums (classification: loss_sum, correct, count) are ``sums``."""
    metrics = metrics_for("classification", torch.device("cpu"))
    metrics.sums.copy_(torch.tensor(sums, dtype=torch.float64))
    return TrainState(metrics, progress or Progress(), best or Best())


def _log(run: Path, count: int, first: int = 0) -> None:
    metrics = MetricsFile(run / "metrics.jsonl")
    for step in range(first, first + count):
        metrics.write({"step": step, "train/loss": 1.0 / (step + 1)})


def test_save_then_restore_is_the_same_training_state(tmp_path: Path):
    parts = _parts(seed=1)
    _train(parts, 3)
    _log(tmp_path, 3)
    saver = _checkpointer(tmp_path, parts)
    progress = Progress(epoch=2, batch=5, step=3, samples=15)
    best = Best(score=0.75, epoch=1)
    sums = torch.tensor([1.5, 2.0, 3.0], dtype=torch.float64)
    torch.manual_seed(123)
    random.seed(123)
    np.random.seed(123)
    saver.save(_state(progress, best, sums.tolist()), ("last.pt",))
    expected_draws = (torch.rand(3), random.random(), np.random.rand())
    _log(tmp_path, 4, first=3)  # logged after the checkpoint: a resume drops these lines

    fresh = _parts(seed=2)
    assert not torch.equal(fresh["model"][0].weight, parts["model"][0].weight)
    restored = _checkpointer(tmp_path, fresh).restore(saver.last, torch.device("cpu"))

    for name, tensor in parts["model"].state_dict().items():
        assert torch.equal(fresh["model"].state_dict()[name], tensor), name
    saved_opt, got_opt = parts["optimizer"].state_dict(), fresh["optimizer"].state_dict()
    assert got_opt["param_groups"] == saved_opt["param_groups"]
    for key, state in saved_opt["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(got_opt["state"][key][name]), torch.as_tensor(value))
    assert fresh["scheduler"].state_dict() == parts["scheduler"].state_dict()
    assert restored.progress == vars(progress)
    assert restored.best == {"score": 0.75, "epoch": 1}
    assert torch.equal(restored.train_sums, sums)
    # the random streams continue where they were when the checkpoint was taken
    draws = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(draws[0], expected_draws[0]) and draws[1:] == expected_draws[1:]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 1, 2]


def test_the_same_training_continues_identically_after_a_restore(tmp_path: Path):
    parts = _parts(seed=1)
    _train(parts, 2)
    saver = _checkpointer(tmp_path, parts)
    saver.save(_state(), ("last.pt",))
    _train(parts, 3)
    fresh = _parts(seed=5)
    _checkpointer(tmp_path, fresh).restore(saver.last, torch.device("cpu"))
    _train(fresh, 3)
    for name, tensor in parts["model"].state_dict().items():
        assert torch.equal(fresh["model"].state_dict()[name], tensor), name


def test_atomic_save_leaves_no_temporary_files(tmp_path: Path):
    parts = _parts(seed=1)
    saver = _checkpointer(tmp_path, parts)
    for step in range(3):
        _train(parts, 1)
        saver.save(_state(Progress(step=step)), ("last.pt", "best.pt"))
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["best.pt", "last.pt"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_keep_last_keeps_the_newest_step_copies(tmp_path: Path):
    parts = _parts(seed=1)
    saver = _checkpointer(tmp_path, parts, keep_last=2)
    for step in (10, 20, 30, 40):
        saver.save(_state(Progress(step=step)), ("last.pt",), keep_step=True)
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.glob("step-*.pt")) == [
        "step-000000030.pt",
        "step-000000040.pt",
    ]
    assert (folder / "last.pt").samefile(folder / "step-000000040.pt")
    none_kept = _checkpointer(tmp_path / "other", parts, keep_last=0)
    none_kept.save(_state(Progress(step=1)), ("last.pt",), keep_step=True)
    assert not list((tmp_path / "other" / "checkpoints").glob("step-*.pt"))


def test_weights_only_file_cannot_be_resumed(tmp_path: Path):
    parts = _parts(seed=1)
    path = tmp_path / "weights.pt"
    torch.save({"model": parts["model"].state_dict()}, path)
    with pytest.raises(UserError, match="no training state"):
        _checkpointer(tmp_path, parts).restore(path, torch.device("cpu"))
