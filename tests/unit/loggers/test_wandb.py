"""logger=[wandb]: option checks in preflight, and a resumed run continuing its W&B run id
without logging a step W&B already has, read back from W&B's offline files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from dltrain.errors import UserError
from dltrain.loggers import check_loggers
from dltrain.loggers.base import LoggerRun
from tests.helpers.cli import dltrain_in_process
from tests.helpers.contract import assert_refused, tree_state

# Checked without importing wandb (seconds): collecting this file must stay cheap.
needs_wandb = pytest.mark.skipif(
    importlib.util.find_spec("wandb") is None, reason="needs pip install 'dltrain[wandb]'"
)


def test_without_wandb_the_pip_command_is_named(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "wandb" else real(n, *a)
    )
    with pytest.raises(UserError, match=r"pip install 'dltrain\[wandb\]'"):
        check_loggers({"wandb": {"name": "wandb", "mode": "offline", "tags": []}})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "offlin"}, r"logger\.wandb\.mode='offlin' is not a W&B mode: use offline"),
        ({"tags": ["a", 3]}, r"logger\.wandb\.tags=\['a', 3\] must be a list of words"),
    ],
)
def test_bad_options_are_refused_naming_the_key(options, message):
    with pytest.raises(UserError, match=message):
        check_loggers({"wandb": {"name": "wandb", "mode": "offline", "tags": [], **options}})


@needs_wandb
def test_online_without_credentials_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    run_dir = tmp_path / "run"
    before = tree_state(tmp_path)
    result = dltrain_in_process(
        "train", "logger=[wandb]", "logger.wandb.mode=online", f"hydra.run.dir={run_dir}"
    )
    assert_refused(result, "logger.wandb.mode=online needs W&B credentials: run `wandb login`")
    assert tree_state(tmp_path) == before


@needs_wandb
def test_a_resumed_run_continues_the_run_id_and_skips_the_steps_wandb_has(tmp_path: Path):
    from dltrain.loggers.wandb_logger import WandbLogger
    from tests.helpers.wandb_records import offline_sessions

    config = {"optimizer": {"name": "sgd", "lr": 0.1}, "seed": 3}
    first = WandbLogger(LoggerRun(tmp_path, config, resumed=False), project="unit")
    for step in (4, 8):
        first.log({"epoch": 1, "step": step, "train/loss": 1.0 / step, "time": 1.0}, "step")
    first.log({"epoch": 1, "step": 9, "train/loss": 0.2, "lr": 0.1}, "epoch")
    first.close()  # killed after step 9, before its test: the checkpoint was at step 4
    run_id = json.loads((tmp_path / "wandb" / "dltrain-run.json").read_text())["id"]

    resumed = WandbLogger(LoggerRun(tmp_path, config, resumed=True), project="unit")
    for step in (8, 12):  # 8 is replayed
        resumed.log({"epoch": 2, "step": step, "train/loss": -1.0}, "step")
    resumed.finish({"step": 12, "test/accuracy": 0.75, "best_score": 0.5, "monitor": "val/loss"})
    resumed.close()

    old, new = offline_sessions(tmp_path)
    assert old.run_id == new.run_id == run_id and new.project == "unit"
    assert [row["_step"] for row in old.history] == [4, 8, 9]
    assert old.history[0]["step/train_loss"] == 0.25 and "step/time" not in old.history[0]
    assert old.history[2]["epoch/lr"] == 0.1 and old.exit_code == 1
    assert [row["_step"] for row in new.history] == [12]
    assert new.summary["test/accuracy"] == 0.75 and new.summary["monitor"] == "val/loss"
    assert new.config["optimizer"] == {"name": "sgd", "lr": 0.1} and new.exit_code == 0
    assert json.loads((tmp_path / "wandb" / "dltrain-run.json").read_text())["step"] == 12
