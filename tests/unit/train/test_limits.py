"""trainer.limit_*_batches, overfit_batches and fast_dev_run: how many batches each split gives,
what that does to the epoch's steps and the scheduler, and the values preflight refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from dltrain.config.compose import compose, group_options
from dltrain.config.preflight import preflight
from dltrain.config.schema import TrainerConfig
from dltrain.config.validate import validate_composed
from dltrain.data.loaders import build_loader
from dltrain.data.sampler import EpochSampler
from dltrain.distributed.context import DistContext
from dltrain.errors import UserError
from dltrain.train.dry_build import dry_build
from dltrain.train.limits import (
    BatchLimits,
    batch_limits,
    fast_dev_run_trainer,
    limit_loader,
    limited_batches,
)
from tests.helpers.cli import read_jsonl
from tests.helpers.viz import train_in_process

TINY = [
    "data=synthetic",
    "model=mlp",
    "data.train_size=200",
    "data.test_size=40",
    "data.batch_size=16",
    "logging.progress=off",
    "device=cpu",
]


def test_a_count_or_a_fraction_of_the_batches():
    assert limited_batches(3, 10) == 3
    assert limited_batches(30, 10) == 10
    assert limited_batches(0.25, 10) == 2
    assert limited_batches(0.01, 10) == 1  # a fraction leaves at least one batch
    assert limited_batches(1.0, 10) == 10


def test_fast_dev_run_then_overfit_then_the_limits():
    trainer = TrainerConfig(limit_train_batches=5, limit_test_batches=0.5)
    assert batch_limits(trainer) == BatchLimits(5, 1.0, 0.5)
    overfit = TrainerConfig(overfit_batches=2, limit_val_batches=7, limit_test_batches=0.5)
    assert batch_limits(overfit) == BatchLimits(2, 2, 0.5, overfit=True)
    fast = TrainerConfig(fast_dev_run=2, overfit_batches=3, max_epochs=9, max_steps=100)
    assert batch_limits(fast) == BatchLimits(2, 2, 2)
    assert fast_dev_run_trainer(fast).max_epochs == 1
    assert fast_dev_run_trainer(fast).max_steps == -1
    assert fast_dev_run_trainer(trainer) is trainer


def test_a_resumed_epoch_continues_inside_the_limit():
    sampler = EpochSampler(100, shuffle=True, seed=3)
    sampler.limit_to(24)
    sampler.set_epoch(2)
    whole = list(sampler)
    assert len(whole) == 24
    sampler.set_epoch(2, start=8)
    assert list(sampler) == whole[8:] and len(sampler) == 16


def test_each_rank_takes_its_share_of_the_limit():
    shares = []
    for rank in (0, 1):
        sampler = EpochSampler(100, shuffle=True, seed=3, rank=rank, world_size=2)
        full = list(sampler)
        sampler.limit_to(10)
        shares.append(list(sampler))
        assert shares[-1] == full[:10]
    assert not set(shares[0]) & set(shares[1])


@pytest.mark.parametrize("kind", ["memory", "torch"])
def test_both_loaders_follow_the_limit(kind: str):
    data = TensorDataset(torch.arange(100.0).unsqueeze(1), torch.zeros(100, dtype=torch.long))
    section = {"name": "synthetic", "batch_size": 8}
    cpu = torch.device("cpu")
    loader = build_loader(data, section, True, 0, cpu, DistContext(), kind, shuffle=False)
    limit_loader(loader, 3, batch_size=8)
    batches = [inputs for inputs, _ in loader]
    assert len(loader) == len(batches) == 3
    assert torch.equal(torch.cat(batches).squeeze(1), torch.arange(24.0))


def test_the_epoch_and_the_scheduler_follow_the_limited_length(tmp_path: Path):
    limits = ["trainer.limit_train_batches=5", "trainer.limit_val_batches=1"]
    overrides = [*TINY, *limits, "trainer.grad_accum=2", "trainer.max_epochs=2"]
    train_in_process(tmp_path, [*overrides, "scheduler=cosine"])
    epochs = [e for e in read_jsonl(tmp_path / "metrics.jsonl") if "train/loss" in e]
    assert [e["step"] for e in epochs if "lr" in e and "epoch_seconds" in e] == [3, 6]
    assert epochs[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine ends with the run


def test_fast_dev_run_keeps_only_the_log(tmp_path: Path):
    train_in_process(tmp_path, [*TINY, "trainer.fast_dev_run=2", "logger=[csv]"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.log"]
    assert "trainer.fast_dev_run=2" in (tmp_path / "train.log").read_text()


@pytest.mark.parametrize(
    ("override", "phrase"),
    [
        ("trainer.limit_train_batches=-1", "trainer.limit_train_batches must be a number"),
        ("trainer.limit_val_batches=0", "trainer.limit_val_batches must be a number"),
        ("trainer.limit_test_batches=1.5", "a float in (0, 1]"),
        ("trainer.overfit_batches=3.0", "for 3 batches write 3"),
        ("trainer.fast_dev_run=-1", "trainer.fast_dev_run must be 0 (off)"),
        ("profiler.active=0", "profiler.active must be a positive integer"),
        ("profiler.wait=-1", "profiler.wait must be 0 or more"),
    ],
)
def test_bad_values_are_refused(override: str, phrase: str):
    with pytest.raises(UserError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        validate_composed(compose([override]))


@pytest.mark.parametrize("preset", group_options("debug"))
def test_every_debug_preset_passes_preflight(preset: str):
    cfg = compose([f"debug={preset}"])
    validate_composed(cfg)
    dry_build(cfg)


def test_fast_dev_run_refuses_a_folder_that_holds_a_run(tmp_path: Path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"a run")
    overrides = ["trainer.fast_dev_run=1", f"hydra.run.dir={tmp_path}", "data=synthetic"]
    with pytest.raises(UserError, match="trainer.fast_dev_run=1 never resumes"):
        preflight(overrides, multirun=False)
