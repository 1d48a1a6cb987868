"""No code from config: every route to an import or a call is exit 2 naming the key, and the
file the injection aims at is neither created nor changed (the attack a `_target_:
builtins.open` with `_args_: [FILE, w]` made before: it truncated FILE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import dltrain
from tests.helpers.contract import assert_refused, tree_state

TINY = ["data=synthetic", "data.train_size=64", "data.test_size=32", "model=mlp"]

# Each case: overrides aimed at {victim} (an existing file) or {new} (a file that must not
# appear), and the phrases the refusal must hold (the key first).
COMMAND_LINE = {
    "callback open": (
        ["+hydra.callbacks.x._target_=builtins.open", "+hydra.callbacks.x._args_=[{victim},w]"],
        ["'hydra.callbacks.x._target_'", "Remove hydra.callbacks.x"],
    ),
    "callback creates": (
        ["+hydra.callbacks.x._target_=builtins.open", "+hydra.callbacks.x._args_=[{new},w]"],
        ["'hydra.callbacks.x._target_'"],
    ),
    "shipped callback retargeted": (
        ["hydra.callbacks.sweep_outcome._target_=os.system"],
        ["'hydra.callbacks.sweep_outcome._target_'", "dltrain.sweep.outcome.SweepOutcome"],
    ),
    "launcher": (
        ["hydra.launcher._target_=builtins.open"],
        ["'hydra.launcher._target_'", "hydra/launcher=NAME"],
    ),
    "model section": (
        ["+model.head._target_=builtins.open", "+model.head._args_=[{victim},w]"],
        ["'model.head._target_'", "registries", "imports=[...]"],
    ),
    "optimizer partial": (["+optimizer._partial_=true"], ["'optimizer._partial_'"]),
    "target from oc.env": (
        ["hydra.callbacks.sweep_outcome._target_=${oc.env:DLTRAIN_EVIL}"],
        ["'hydra.callbacks.sweep_outcome._target_'", "computed by ${oc.env:DLTRAIN_EVIL}"],
    ),
    "dict from oc.decode": (
        ["+model.h='${oc.decode:\"{_target_: builtins.open, _args_: [{victim}, w]}\"}'"],
        ["'model.h._target_'", "computed by ${oc.decode:"],
    ),
    "logging handler class": (
        ["hydra/job_logging=default", "hydra.job_logging.handlers.file.class=antigravity.Fly"],
        ["'hydra.job_logging.handlers.file.class'", "hydra/job_logging=default"],
    ),
    "logging ext:// import": (
        ["hydra.hydra_logging.handlers.console.stream=ext://antigravity.fly"],
        ["'hydra.hydra_logging.handlers.console.stream'", "ext://sys.stdout"],
    ),
    "env_set LD_PRELOAD": (
        ["+hydra.job.env_set.LD_PRELOAD={victim}"],
        ["'hydra.job.env_set.LD_PRELOAD'", "load code", "Remove hydra.job.env_set.LD_PRELOAD"],
    ),
    "imports from oc.env": (
        ["imports=[${oc.env:DLTRAIN_EVIL}]"],
        ["'imports.0'", "must be written out"],
    ),
}


@pytest.fixture
def target(tmp_path: Path) -> dict[str, Path]:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    return {"victim": victim, "new": tmp_path / "created.txt"}


def _refused_without_writing(
    args: list[str], phrases: list[str], tmp_path: Path, target: dict[str, Path]
) -> None:
    before = tree_state(tmp_path)
    result = dltrain(*args, cwd=tmp_path, env={"DLTRAIN_EVIL": "builtins.print"})
    assert_refused(result, *phrases)
    assert tree_state(tmp_path) == before
    assert target["victim"].read_text() == "precious\n" and not target["new"].exists()
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("case", COMMAND_LINE)
def test_command_line_injections_are_refused(case: str, tmp_path: Path, target: dict[str, Path]):
    overrides, phrases = COMMAND_LINE[case]
    overrides = [o.replace("{victim}", str(target["victim"])) for o in overrides]
    overrides = [o.replace("{new}", str(target["new"])) for o in overrides]
    args = ["train", *TINY, f"hydra.run.dir={tmp_path / 'run'}", *overrides]
    _refused_without_writing(args, phrases, tmp_path, target)


@pytest.mark.parametrize("mode", ["run", "sweep", "cfg"])
def test_the_callback_injection_is_refused_in_every_mode(
    mode: str, tmp_path: Path, target: dict[str, Path]
):
    victim = target["victim"]
    inject = [
        "+hydra.callbacks.x._target_=builtins.open",
        f"+hydra.callbacks.x._args_=[{victim},w]",
    ]
    extra = {
        "run": [f"hydra.run.dir={tmp_path / 'run'}"],
        "sweep": ["-m", "seed=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        "cfg": ["--cfg", "job"],
    }[mode]
    args = ["train", *TINY, *extra, *inject]
    _refused_without_writing(args, ["'hydra.callbacks.x._target_'"], tmp_path, target)


YAML_INJECTIONS = {
    "callback": (
        "hydra:\n  callbacks:\n    x:\n      _target_: builtins.open\n"
        "      _args_: ['{victim}', w]\n",
        "'hydra.callbacks.x._target_'",
    ),
    "optimizer": (
        "optimizer:\n  hook:\n    _target_: builtins.open\n    _args_: ['{victim}', w]\n",
        "'optimizer.hook._target_'",
    ),
    "logging factory": (
        "hydra:\n  job_logging:\n    version: 1\n    handlers:\n      evil:\n"
        "        (): builtins.open\n        file: '{victim}'\n        mode: w\n"
        "    root:\n      handlers: [evil]\n",
        "'hydra.job_logging.handlers.evil.()'",
    ),
    "oc.decode in yaml": (
        "model:\n  h: '${{oc.decode:\"{{_target_: builtins.open, _args_: [{victim}, w]}}\"}}'\n",
        "'model.h._target_'",
    ),
}


@pytest.mark.parametrize("case", YAML_INJECTIONS)
def test_experiment_yaml_injections_are_refused(case: str, tmp_path: Path, target: dict[str, Path]):
    text, key = YAML_INJECTIONS[case]
    folder = tmp_path / "configs" / "experiment"
    folder.mkdir(parents=True)
    body = text.replace("{victim}", str(target["victim"])).replace("{{", "{").replace("}}", "}")
    (folder / "evil.yaml").write_text("# @package _global_\n" + body)
    args = ["train", *TINY, f"hydra.run.dir={tmp_path / 'run'}", "experiment=evil"]
    args += ["--config-dir", str(tmp_path / "configs")]
    _refused_without_writing(args, [key], tmp_path, target)


@pytest.mark.parametrize(
    "selection",
    [
        ["hydra/launcher=parallel"],
        ["hydra/launcher=submitit_local"],
        ["hydra/sweeper=dltrain_optuna"],
        ["hydra/job_logging=default"],
        ["hydra/hydra_logging=hydra_debug"],
    ],
)
def test_the_shipped_plugins_pass(selection: list[str], tmp_path: Path):
    before = tree_state(tmp_path)
    result = dltrain("train", "--cfg", "hydra", *selection, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tree_state(tmp_path) == before
