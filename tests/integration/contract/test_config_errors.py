"""Compose-level config errors: exit 2, the key and the fix named, no traceback, nothing written.

Interpolations are resolved once in preflight, so an unset ${oc.env:...}, a self-reference or
a resolver's bad input fails before Hydra makes the run folder; deleting a required group or
key is refused there too; override syntax Hydra's grammar rejects says how to quote it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import dltrain
from tests.helpers.contract import assert_refused, tree_state

TINY = ["data=synthetic", "data.train_size=64", "data.test_size=32", "model=mlp"]

CASES = [
    ("+x=${oc.env:UNSET_VAR_XYZ}", ["'x'", "UNSET_VAR_XYZ", "${oc.env:NAME,default}"]),
    ("trainer.max_epochs=${trainer.max_epochs}", ["'trainer.max_epochs'", "refers to itself"]),
    ("+y=${prod:[a,b]}", ["'y'", "invalid literal for int()", "Fix the value of y"]),
    ("+z=${no.such.key}", ["'z'", "'no.such.key' not found"]),
    ("hydra.run.dir=${oc.env:UNSET_VAR_XYZ}/run", ["'hydra.run.dir'", "UNSET_VAR_XYZ"]),
    ("experiment_name=ünï", ["experiment_name=ünï", "Quote the value: experiment_name='ünï'"]),
    ("+a=${oc.env:", ["cannot parse the override +a=${oc.env:", "quote a value"]),
    ("~scheduler", ["'scheduler' has no option", "scheduler=NAME", "dltrain list scheduler"]),
    ("~model", ["'model' has no option", "model=NAME"]),
    ("~seed", ["no 'seed'", "Drop the ~seed override", "seed=VALUE"]),
    ("~trainer", ["no 'trainer'", "Drop the ~trainer override"]),
]


@pytest.mark.parametrize(("override", "phrases"), CASES, ids=[c[0] for c in CASES])
def test_compose_errors_name_the_key_and_the_fix(override: str, phrases: list[str], tmp_path: Path):
    run = tmp_path / "run"
    before = tree_state(tmp_path)
    result = dltrain("train", *TINY, f"hydra.run.dir={run}", override, cwd=tmp_path)
    assert_refused(result, *phrases)
    assert tree_state(tmp_path) == before and not run.exists()


@pytest.mark.parametrize("override", ["+x=${oc.env:UNSET_VAR_XYZ}", "~scheduler"])
def test_cfg_gives_the_same_message_as_a_run(override: str, tmp_path: Path):
    before = tree_state(tmp_path)
    shown = dltrain("train", "--cfg", "job", override, cwd=tmp_path)
    ran = dltrain("train", *TINY, f"hydra.run.dir={tmp_path / 'run'}", override, cwd=tmp_path)
    assert_refused(shown)
    assert_refused(ran)
    assert shown.stderr == ran.stderr
    assert tree_state(tmp_path) == before


def test_a_quoted_unicode_value_and_a_set_variable_compose(tmp_path: Path):
    result = dltrain("train", "--cfg", "job", "+note='ünï'", "+home=${oc.env:HOME}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: ünï" in result.stdout


def test_a_config_file_that_is_not_yaml_names_the_file_and_line(tmp_path: Path):
    experiment = tmp_path / "cfg" / "experiment" / "bad.yaml"
    experiment.parent.mkdir(parents=True)
    experiment.write_text("model: [unclosed\n  x: 1\n")
    before = tree_state(tmp_path)
    result = dltrain(
        "train",
        "--config-dir=cfg",
        "+experiment=bad",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert_refused(result, f"{experiment}, line 2 is not valid YAML", "Fix the YAML there")
    assert tree_state(tmp_path) == before
