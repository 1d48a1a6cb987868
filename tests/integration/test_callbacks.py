"""callbacks=[...] in real `dltrain train` runs: the hooks' order, early stopping, every group's
learning rate, SWA weights in best.pt, a user's callback from imports=, and refusals."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch

from tests.helpers.cli import dltrain, fast_train_args, read_jsonl
from tests.helpers.contract import assert_train_refused

HOOK_LOG = textwrap.dedent('''
    """A user's callback: each hook's name, in call order, into a file."""
    from pathlib import Path

    from dltrain.callbacks import Callback
    from dltrain.registry import CALLBACKS


    @CALLBACKS.register("hook_log")
    class HookLog(Callback):
        def __init__(self, path: str) -> None:
            self.path = Path(path)

        def note(self, text: str) -> None:
            with self.path.open("a") as handle:
                handle.write(text + "\\n")

        def on_fit_start(self, run, state):
            self.note("fit_start")

        def on_optimizer_step(self, run, state):
            self.note(f"step {state.progress.step}")

        def on_train_epoch_end(self, run, state, record):
            self.note(f"train_end {record['epoch']}")

        def on_validation_end(self, run, state, record):
            self.note(f"validation_end {' '.join(k for k in record if k.startswith('val'))}")

        def on_epoch_end(self, run, state, record):
            self.note(f"epoch_end {record['epoch']}")

        def on_fit_end(self, run, state, results):
            self.note("fit_end")
''')


@pytest.fixture
def hook_log(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """The user's module and its YAML (hydra.searchpath), as README's "Your own components"."""
    (tmp_path / "hook_log.py").write_text(HOOK_LOG)
    configs = tmp_path / "configs" / "callbacks"
    configs.mkdir(parents=True)
    (configs / "hook_log.yaml").write_text(
        f"# @package callbacks.hook_log\nname: hook_log\npath: {tmp_path / 'hooks.txt'}\n"
    )
    extra = ["imports=[hook_log]", f"hydra.searchpath=[file://{tmp_path / 'configs'}]"]
    return extra, {"PYTHONPATH": str(tmp_path)}


@pytest.mark.slow
def test_swa_early_stopping_lr_monitor_and_a_users_callback(fmnist_root, tmp_path, hook_log):
    extra, env = hook_log
    run = tmp_path / "run"
    result = dltrain(
        *fast_train_args(
            fmnist_root, run, "trainer.max_epochs=4", *extra,
            "callbacks=[swa,early_stopping,lr_monitor,hook_log]", "callbacks.swa.start_epoch=1",
            "callbacks.early_stopping.patience=1", "callbacks.early_stopping.min_delta=100",
            "optimizer.param_groups=[{match: fc, lr: 0.01}]",
        ),
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    log = (run / "train.log").read_text()
    # early stopping follows best.pt's metric, the SWA weights' val_swa/accuracy
    assert "early stopping: val_swa/accuracy did not improve by 100 for 1 epochs (best" in log
    assert "stopped early at epoch 2" in log.splitlines()[-1]
    results = json.loads((run / "results.json").read_text())
    assert results["stopped_early_at_epoch"] == 2 and results["monitor"] == "val_swa/accuracy"
    assert results["val_swa/accuracy"] == results["val/accuracy"] == results["best_score"]
    events = read_jsonl(run / "metrics.jsonl")
    assert [e["epoch"] for e in events if "val/loss" in e] == [1, 2]
    for event in events:  # every logged step and epoch: each group's rate (SWA holds them)
        assert (event["lr/group0"], event["lr/group1"]) == (event["lr"], 0.01) == (1e-3, 0.01)
    assert all("val_swa/accuracy" in e for e in events if "val/loss" in e)
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    averaged = last["callbacks"]["swa"]["averaged"]
    assert torch.equal(best["model"]["fc.2.weight"], averaged["module.fc.2.weight"])
    assert not torch.equal(best["model"]["fc.2.weight"], last["model"]["fc.2.weight"])
    steps = [f"step {n}" for n in range(1, 10)]
    validated = "validation_end val/loss val/accuracy val_swa/loss val_swa/accuracy"
    epoch = ["train_end {}", validated, "epoch_end {}"]
    expected = ["fit_start", *steps, *[e.format(1) for e in epoch]]
    expected += [f"step {n}" for n in range(10, 19)] + [e.format(2) for e in epoch]
    assert (tmp_path / "hooks.txt").read_text().splitlines() == [*expected, "fit_end"]


@pytest.mark.parametrize(
    ("overrides", "phrases"),
    [
        (["callbacks=[emma]"], ["there is no callbacks option 'emma'", "Did you mean 'ema'?"]),
        (
            ["callbacks=[ema,early_stopping]", "callbacks.ema.decay=1.5"],
            ["callbacks.ema.decay=1.5 is refused", "decay must be in (0, 1)"],
        ),
    ],
)
def test_unknown_callback_and_bad_key_are_exit_2_with_nothing_written(
    overrides, phrases, fmnist_root, tmp_path
):
    assert_train_refused(fmnist_root, tmp_path, overrides, phrases)
