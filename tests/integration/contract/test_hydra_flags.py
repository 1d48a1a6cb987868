"""Hydra's flags mean what they mean in Hydra, and preflight checks the config that will run.

`dltrain train` parses its command line with Hydra's own parser; --config-dir/--config-name
change what preflight composes exactly as they change what Hydra runs. Bad flags are exit 2,
no traceback, nothing written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import dltrain
from tests.helpers.contract import assert_refused, tree_state

TINY = ["data=synthetic", "data.train_size=64", "data.test_size=32", "model=mlp"]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A user's config folder: an experiment and a primary config of its own."""
    folder = tmp_path / "my_configs"
    (folder / "experiment").mkdir(parents=True)
    (folder / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ntrainer:\n  max_epochs: 1\nseed: 7\n"
    )
    (folder / "myrun.yaml").write_text(
        "defaults:\n  - train\n  - _self_\ntrainer:\n  max_epochs: 1\nseed: 11\n"
    )
    (folder / "broken.yaml").write_text(
        "defaults:\n  - train\n  - _self_\ndata:\n  batch_size: 0\n"
    )
    return folder


@pytest.mark.parametrize(
    "flags",
    [
        ["--config-dir={dir}", "experiment=mine"],
        ["-cd", "{dir}", "experiment=mine"],
        ["experiment=mine", "--config-dir", "{dir}"],  # flags after overrides, as people type
        ["--config-dir={dir}", "--config-name=myrun"],
        ["-cn", "myrun", "-cd", "{dir}"],
    ],
)
def test_config_dir_and_name_reach_the_printed_config(config_dir: Path, flags: list[str]):
    args = [f.format(dir=config_dir) for f in flags]
    before = tree_state(config_dir.parent)
    result = dltrain("train", *args, "--cfg", "job", cwd=config_dir.parent)
    assert result.returncode == 0, result.stderr
    assert "max_epochs: 1" in result.stdout
    assert ("seed: 7" if "experiment=mine" in args else "seed: 11") in result.stdout
    assert tree_state(config_dir.parent) == before


def test_preflight_validates_the_config_named_by_config_name(config_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    before = tree_state(tmp_path)
    result = dltrain(
        "train", "-cd", str(config_dir), "--config-name=broken", f"hydra.run.dir={run}", *TINY
    )
    assert_refused(result, "data.batch_size must be a positive integer")
    assert tree_state(tmp_path) == before


def test_a_bad_grid_point_from_a_config_dir_stops_the_sweep(config_dir: Path, tmp_path: Path):
    sweep = tmp_path / "sweep"
    result = dltrain(
        "train", "-m", *TINY, "experiment=mine", "data.batch_size=8,0",
        "--config-dir", str(config_dir), f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert_refused(result, "data.batch_size must be a positive integer")
    assert not sweep.exists()


@pytest.mark.slow
def test_a_run_uses_the_config_dir_experiment(config_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    result = dltrain(
        "train", *TINY, "--config-dir", str(config_dir), "experiment=mine", f"hydra.run.dir={run}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    config = (run / "config.yaml").read_text()
    assert "max_epochs: 1" in config and "seed: 7" in config


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["--cfg", "job", "model=resnt"], ["there is no model option 'resnt'", "lenet"]),
        (["--cfg", "job", "trainer.max_epoch=3"], ["Did you mean 'trainer.max_epochs'"]),
        (["--cfg", "job", "-m", "seed=1"], ["cannot be combined", "--cfg"]),
        (["--cfg", "everything"], ["invalid choice: 'everything'", "--help"]),
        (["--resolve", "seed=1"], ["--resolve only works with --cfg", "--cfg job"]),
        (["-p", "trainer", "seed=1"], ["--package/-p only works with --cfg"]),
        (["--experimental-rerun", "x.pickle"], ["--experimental-rerun", "hydra.run.dir="]),
        (["--config-name=nope", "seed=1"], ["Cannot find primary config 'nope'", "--config-dir"]),
        (["--config-dir=/no/such/folder", "seed=1"], ["/no/such/folder", "--config-dir"]),
        (["--info", "nonsense"], ["invalid choice: 'nonsense'"]),
        (["--no-such-flag"], ["unrecognized arguments: --no-such-flag", "key=value"]),
    ],
)
def test_bad_flags_are_refused(args: list[str], phrases: list[str], tmp_path: Path):
    before = tree_state(tmp_path)
    result = dltrain("train", *args, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert_refused(result, *phrases)
    assert tree_state(tmp_path) == before


def test_cfg_prints_and_writes_nothing(tmp_path: Path):
    before = tree_state(tmp_path)
    result = dltrain("train", "--cfg", "job", "-p", "trainer", "trainer.max_epochs=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "max_epochs: 3" in result.stdout
    assert tree_state(tmp_path) == before


def test_help_hydra_help_info_and_version(config_dir: Path, tmp_path: Path):
    before = tree_state(tmp_path)
    assert "model: alexnet, fmnist_cnn" in dltrain("train", "--help", cwd=tmp_path).stdout
    assert "Hydra" in dltrain("train", "--hydra-help", cwd=tmp_path).stdout
    info = dltrain("train", "--info", "searchpath", "-cd", str(config_dir), cwd=tmp_path)
    assert info.returncode == 0 and f"file://{config_dir}" in info.stdout
    assert dltrain("train", "--version", cwd=tmp_path).stdout.startswith("Hydra 1.")
    assert tree_state(tmp_path) == before


@pytest.fixture
def dltrain_on_path(tmp_path: Path) -> dict[str, str]:
    """A `dltrain` command on PATH running this checkout, as the console script would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "dltrain"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dltrain "$@"\n')
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


COMPLETE = """
eval "$(dltrain train -sc install=bash)"
complete_line() {
  COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
  COMP_WORDS=($COMP_LINE); [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  hydra_bash_completion
  echo "${COMPREPLY[*]}"
}
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("dltrain train model=", {"model=lenet", "model=fmnist_cnn", "model=unet"}),
        ("dltrain train optimizer=ad", {"optimizer=adam", "optimizer=adamw"}),
        ("dltrain train trainer.max_e", {"trainer.max_epochs="}),
        ("dltrain train -cd {dir} experiment=", {"experiment=mine", "experiment=digits"}),
        ("dltrain tr", {"train"}),
        ("dltrain eval ", set()),  # no config keys: bash falls back to file names
    ],
)
def test_bash_completion_offers_the_config(
    line: str, offered: set[str], dltrain_on_path: dict[str, str], config_dir: Path
):
    script = COMPLETE + f'complete_line "{line.format(dir=config_dir)}"\n'
    result = subprocess.run(
        ["bash", "-c", script], env=dltrain_on_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    choices = set(result.stdout.split())
    assert offered <= choices, result.stdout
    assert offered or not any("=" in choice for choice in choices), result.stdout
    assert "Traceback" not in result.stderr
