"""Real `dltrain train` / `eval` subprocesses on FashionMNIST-format files, and the run folder."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from tests.helpers.cli import dltrain, fast_train_args, read_jsonl


@pytest.fixture(scope="module")
def run_dir(fmnist_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "cnn"
    result = dltrain(*fast_train_args(fmnist_root, folder, "deterministic=true"))
    assert result.returncode == 0, result.stderr
    return folder


def test_run_folder_has_the_contract_files(run_dir: Path):
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "results.json",
        "train.log",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
    ):
        assert (run_dir / name).is_file(), name
    assert not list(run_dir.glob("**/*.tmp")), "no temporary checkpoint files left behind"


def test_config_yaml_is_resolved_and_complete(run_dir: Path, fmnist_root: Path):
    text = (run_dir / "config.yaml").read_text()
    assert "${" not in text
    cfg = yaml.safe_load(text)
    assert cfg["model"] == {
        "name": "fmnist_cnn",
        "in_channels": 1,
        "num_classes": 10,
        "dropout": 0.3,
        "init": None,
        "weights": None,
        "freeze": None,
        "freeze_bn": False,
    }
    assert cfg["data"]["root"] == str(fmnist_root)
    assert "hydra" not in cfg


def test_metrics_jsonl_has_epoch_and_step_events(run_dir: Path):
    events = read_jsonl(run_dir / "metrics.jsonl")
    epochs = [e for e in events if "val/accuracy" in e]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for event in epochs:
        assert {"step", "train/loss", "train/accuracy", "val/loss", "lr"} <= set(event)
        assert 0.0 <= event["val/accuracy"] <= 1.0
    steps = [e for e in events if "val/accuracy" not in e]
    assert steps and all(e["step"] % 4 == 0 for e in steps)
    assert epochs[-1]["step"] == 2 * 9  # 540 training images / batch 64 -> 9 steps per epoch


def test_results_json_has_val_and_test_metrics(run_dir: Path):
    results = json.loads((run_dir / "results.json").read_text())
    for key in ("val/loss", "val/accuracy", "test/loss", "test/accuracy"):
        assert key in results
    # accuracy is correct/total over the whole split: a multiple of 1/200 on 200 test images
    assert abs(results["test/accuracy"] * 200 - round(results["test/accuracy"] * 200)) < 1e-6
    assert results["test/accuracy"] > 0.3, "the CNN learns the fake data set"


def test_checkpoints_load_safely_with_plain_state_dicts(run_dir: Path):
    for name in ("best.pt", "last.pt"):
        state = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert set(state["model"]) >= {"conv.0.weight", "fc.2.bias"}
        assert not any(k.startswith(("module.", "_orig_mod.")) for k in state["model"])
        assert state["config"]["model"]["name"] == "fmnist_cnn"


def test_train_log_has_one_line_per_epoch(run_dir: Path):
    log = (run_dir / "train.log").read_text()
    assert "epoch 1/2" in log and "epoch 2/2" in log
    assert "test/accuracy" in log


def test_eval_reproduces_the_test_metrics(run_dir: Path):
    result = dltrain("eval", f"ckpt={run_dir / 'checkpoints' / 'best.pt'}")
    assert result.returncode == 0, result.stderr
    written = json.loads((run_dir / "eval_test.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    assert written["test/accuracy"] == pytest.approx(results["test/accuracy"])
    assert written["test/loss"] == pytest.approx(results["test/loss"], rel=1e-5)
    assert "test/accuracy:" in result.stdout


def test_eval_takes_a_run_folder_and_the_val_split(run_dir: Path, tmp_path: Path):
    output = tmp_path / "val.json"
    result = dltrain("eval", f"ckpt={run_dir}", "split=val", f"output={output}")
    assert result.returncode == 0, result.stderr
    assert "val/accuracy" in json.loads(output.read_text())


@pytest.mark.slow
def test_resume_continues_exactly(run_dir: Path, fmnist_root: Path, tmp_path: Path):
    """Two epochs (the module's run, copied), then the same folder with max_epochs=3, equals
    three epochs straight."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    first = dltrain(
        *fast_train_args(fmnist_root, straight, "deterministic=true", "trainer.max_epochs=3")
    )
    assert first.returncode == 0, first.stderr
    shutil.copytree(run_dir, resumed)  # the same command's two epochs: no need to train them
    rest = dltrain(
        *fast_train_args(fmnist_root, resumed, "deterministic=true", "trainer.max_epochs=3")
    )
    assert rest.returncode == 0, rest.stderr
    assert "resumed from" in rest.stdout
    a = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(resumed / "checkpoints" / "last.pt", weights_only=True)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    epochs = [e["epoch"] for e in read_jsonl(resumed / "metrics.jsonl") if "val/loss" in e]
    assert epochs == [1, 2, 3]


def test_user_model_from_imports_and_searchpath(fmnist_root: Path, tmp_path: Path):
    (tmp_path / "my_pkg").mkdir()
    (tmp_path / "my_pkg" / "__init__.py").write_text("")
    (tmp_path / "my_pkg" / "models.py").write_text(
        textwrap.dedent("""
        from torch import nn
        from dltrain.registry import MODELS

        @MODELS.register("tiny_user_net", task="classification")
        class TinyUserNet(nn.Module):
            def __init__(self, in_features: int, num_classes: int):
                super().__init__()
                self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))

            def forward(self, x):
                return self.net(x)
    """)
    )
    (tmp_path / "my_configs" / "model").mkdir(parents=True)
    (tmp_path / "my_configs" / "model" / "tiny.yaml").write_text(
        "name: tiny_user_net\nin_features: ${prod:${data.shape}}\n"
        "num_classes: ${data.num_classes}\n"
    )
    run = tmp_path / "run"
    result = dltrain(
        *fast_train_args(
            fmnist_root,
            run,
            "trainer.max_epochs=1",
            "model=tiny",
            "imports=[my_pkg.models]",
            f"hydra.searchpath=[file://{tmp_path / 'my_configs'}]",
        ),
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "tiny_user_net" in (run / "config.yaml").read_text()


MODEL_LINE = (
    "model: alexnet, fmnist_cnn, lenet, mlp, regression_mlp, softmax_regression, timm, "
    "torchvision, unet"
)


def test_list_summary_and_help():
    listing = dltrain("list")
    assert listing.returncode == 0
    assert MODEL_LINE in listing.stdout
    one = dltrain("list", "optimizer")
    assert one.stdout.strip() == (
        "optimizer: adadelta, adafactor, adagrad, adam, adamax, adamw, asgd, lbfgs, momentum, "
        "nadam, radam, rmsprop, rprop, sgd, sparse_adam"
    )
    summary = dltrain("summary", "model=fmnist_cnn")
    assert summary.returncode == 0
    assert "582,026" in summary.stdout and "(1, 64, 4, 4)" in summary.stdout
    top = dltrain("--help")
    assert top.returncode == 0 and "train" in top.stdout and "summary" in top.stdout
    hydra_help = dltrain("train", "--help")
    assert hydra_help.returncode == 0
    assert MODEL_LINE in hydra_help.stdout
