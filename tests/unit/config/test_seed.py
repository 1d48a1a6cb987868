"""seed=null: composed and validated, then chosen once where config.yaml is written, kept by a
run folder that already holds a run, and a fresh choice per folder (each sweep job)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from dltrain.config.compose import compose
from dltrain.config.freeze import freeze, load_frozen, to_plain
from dltrain.config.seed import SEED_LIMIT, choose_seed
from dltrain.config.validate import validate_composed


def _plain(*overrides: str) -> dict:
    composed = compose(["seed=null", *overrides])
    validate_composed(composed)  # today's refusal was "field 'seed' is not Optional"
    return to_plain(composed)


def test_seed_null_is_chosen_and_frozen_into_config_yaml(tmp_path: Path, capsys) -> None:
    plain = _plain()
    assert plain["seed"] is None
    frozen = freeze(plain, tmp_path)
    seed = load_frozen(tmp_path)["seed"]
    assert isinstance(seed, int) and 0 <= seed < SEED_LIMIT
    assert frozen["seed"] == plain["seed"] == seed  # what the run (and a DDP launch) uses
    assert f"seed=null: chose seed {seed}; repeat with seed={seed}" in capsys.readouterr().out


def test_each_folder_chooses_its_own_seed(tmp_path: Path) -> None:
    """A sweep freezes each job into its own folder: each job draws its own seed."""
    seeds = {freeze(_plain(), tmp_path / str(job))["seed"] for job in range(4)}
    assert len(seeds) == 4


def test_a_folder_with_a_run_keeps_its_seed(tmp_path: Path, capsys) -> None:
    """config.yaml there (a run restarted before its first checkpoint, a torchrun restart):
    the same seed again, not a new one."""
    first = freeze(_plain(), tmp_path)["seed"]
    assert freeze(_plain(), tmp_path)["seed"] == first
    assert f"keeping the seed of the run in {tmp_path}, {first}" in capsys.readouterr().out


def test_a_resumed_checkpoint_keeps_the_seed_it_started_with(tmp_path: Path) -> None:
    """``saved``: the config inside the checkpoint a resume continues (resume=PATH too)."""
    plain = {"seed": None}
    choose_seed(plain, {"seed": 1234}, tmp_path)
    assert plain["seed"] == 1234


@pytest.mark.parametrize("seed", [0, 7])
def test_a_given_seed_is_left_alone(tmp_path: Path, seed: int) -> None:
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml({"seed": 99}))
    plain = {"seed": seed}
    choose_seed(plain, {"seed": 5}, tmp_path)
    assert plain["seed"] == seed  # a changed seed on resume is refused by config/resume.py
