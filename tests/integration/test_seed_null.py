"""`dltrain train seed=null`: a real run chooses a seed, logs it, freezes it into config.yaml,
and the same config with seed=N repeats the run exactly (the repeat runs in this process:
the same compose and fit, without a second process start)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from omegaconf import OmegaConf

from dltrain.testing.compare import run_differences
from tests.helpers.cli import dltrain, fast_train_args
from tests.helpers.viz import train_in_process

TINY = ("trainer.max_epochs=1", "trainer.max_steps=3", "deterministic=true", "logger=[]")


def test_seed_null_run_is_repeated_by_its_frozen_seed(fmnist_root: Path, tmp_path: Path) -> None:
    chosen_run, repeated_run = tmp_path / "chosen", tmp_path / "repeated"
    chosen = dltrain(*fast_train_args(fmnist_root, chosen_run, *TINY, "seed=null"))
    assert chosen.returncode == 0, chosen.stderr
    seed = OmegaConf.load(chosen_run / "config.yaml").seed
    assert isinstance(seed, int)
    assert f"seed=null: chose seed {seed}; repeat with seed={seed}" in chosen.stdout
    assert re.search(rf"seed {seed}; data ", (chosen_run / "train.log").read_text())
    overrides = fast_train_args(fmnist_root, repeated_run, *TINY, f"seed={seed}")[1:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocess (OMP_NUM_THREADS=1): the same float sums
    try:
        train_in_process(repeated_run, [o for o in overrides if not o.startswith("hydra.")])
    finally:
        torch.set_num_threads(threads)
    assert run_differences(chosen_run, repeated_run) == []
