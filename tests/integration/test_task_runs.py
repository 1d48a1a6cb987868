"""Subprocess runs: missing data is exit 2 with the path; segmentation and regression runs.

The tiny models and losses are the test's own, registered through ``imports=[...]`` with their
configs on ``hydra.searchpath``, as a user would add theirs. The missing-data table runs one
case as a real process and the others through dltrain's entry point in the test process.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from dltrain.testing.fake_data import write_fake_mnist
from tests.helpers.cli import dltrain, dltrain_in_process, read_jsonl

COMPONENTS = """
from torch import nn
from dltrain.registry import LOSSES, MODELS


@MODELS.register("tiny_seg", task="segmentation")
class TinySeg(nn.Module):
    def __init__(self, in_channels: int, width: int = 8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 1, 1)
        )

    def forward(self, x):
        return self.net(x)  # per-pixel logits, N x 1 x H x W


@MODELS.register("tiny_reg", task="regression")
class TinyReg(nn.Module):
    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, 20), nn.ReLU(), nn.Linear(20, out_features))

    def forward(self, x):
        return self.net(x)


@LOSSES.register("tiny_bce", tasks={"segmentation"})
def tiny_bce():
    return nn.BCEWithLogitsLoss()


@LOSSES.register("tiny_mse", tasks={"regression"})
def tiny_mse():
    return nn.MSELoss()
"""
CONFIGS = {
    "model/tiny_seg.yaml": "name: tiny_seg\nin_channels: ${data.shape.0}\n",
    "model/tiny_reg.yaml": (
        "name: tiny_reg\nin_features: ${prod:${data.shape}}\nout_features: ${data.num_classes}\n"
    ),
    "loss/tiny_bce.yaml": "name: tiny_bce\n",
    "loss/tiny_mse.yaml": "name: tiny_mse\n",
}


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("user")
    (folder / "my_tasks").mkdir()
    (folder / "my_tasks" / "__init__.py").write_text("")
    (folder / "my_tasks" / "components.py").write_text(textwrap.dedent(COMPONENTS))
    for name, text in CONFIGS.items():
        (folder / "my_configs" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "my_configs" / name).write_text(text)
    return folder


def _user_run(user_dir: Path, run: Path, *args: str):
    return dltrain(
        "train",
        "imports=[my_tasks.components]",
        f"hydra.searchpath=[file://{user_dir / 'my_configs'}]",
        f"hydra.run.dir={run}",
        "logging.every_n_steps=5",
        *args,
        cwd=user_dir,
        env={"PYTHONPATH": str(user_dir)},
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["data=mnist", "data.root={tmp}", "data.download=false"], "{tmp}/MNIST/raw"),
        (["data=cifar10", "data.root={tmp}", "data.download=false"], "{tmp}/cifar-10-batches-py"),
        (["data=imagefolder", "data.root={tmp}"], "{tmp}/train"),
        (["data=csv", "data.root={tmp}"], "{tmp}/FashionMNIST/fashion-mnist_train.csv"),
    ],
)
def test_missing_data_is_exit_2_with_where_the_files_go(args, expected, tmp_path: Path):
    run = tmp_path / "run"
    # data=mnist as a real process, the others through dltrain's entry point in this process
    launch = dltrain if args[0] == "data=mnist" else dltrain_in_process
    args = [a.format(tmp=tmp_path / "data") for a in args]
    result = launch("train", *args, f"hydra.run.dir={run}")
    assert result.returncode == 2, result.stderr
    assert expected.format(tmp=tmp_path / "data") in result.stderr
    assert "Traceback" not in result.stderr and not run.exists()


def test_segmentation_run_on_fashionmnist_files(user_dir: Path, tmp_path: Path):
    write_fake_mnist(tmp_path / "data", train_size=300, test_size=100, style="garments")
    run = tmp_path / "run"
    result = _user_run(
        user_dir,
        run,
        "model=tiny_seg",
        "loss=tiny_bce",
        f"data.root={tmp_path / 'data'}",
        "data.download=false",
        "data.batch_size=32",
        "data.train_transforms=[{name: horizontal_flip, p: 0.5}]",
        "optimizer.lr=0.02",
        "trainer.max_epochs=2",
    )
    assert result.returncode == 0, result.stderr
    results = json.loads((run / "results.json").read_text())
    for key in ("val/dice", "val/iou", "test/dice", "test/iou", "test/loss"):
        assert 0.0 <= results[key] <= 1.0 or key.endswith("loss"), key
    assert results["monitor"] == "val/dice"
    assert results["test/dice"] > 0.8, "a per-pixel threshold is easy to learn"
    epochs = [e for e in read_jsonl(run / "metrics.jsonl") if "val/dice" in e]
    assert [e["epoch"] for e in epochs] == [1, 2] and all("train/iou" in e for e in epochs)
    assert results["best_score"] == max(e["val/dice"] for e in epochs)
    assert "segmentation task: best.pt keeps the max val/dice" in (run / "train.log").read_text()
    evaluated = dltrain("eval", f"ckpt={run}", cwd=user_dir, env={"PYTHONPATH": str(user_dir)})
    assert evaluated.returncode == 0, evaluated.stderr
    written = json.loads((run / "eval_test.json").read_text())
    assert written["test/dice"] == pytest.approx(results["test/dice"])


def test_regression_run_on_quadratic(user_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    result = _user_run(
        user_dir,
        run,
        "data=quadratic",
        "model=tiny_reg",
        "loss=tiny_mse",
        "optimizer.lr=0.01",
        "trainer.max_epochs=3",
    )
    assert result.returncode == 0, result.stderr
    results = json.loads((run / "results.json").read_text())
    for key in ("val/loss", "val/mse", "val/mae", "test/loss", "test/mse", "test/mae"):
        assert key in results, key
    assert results["monitor"] == "val/loss"
    epochs = [e for e in read_jsonl(run / "metrics.jsonl") if "val/loss" in e]
    assert results["best_score"] == min(e["val/loss"] for e in epochs), "lower is better"
    assert results["test/mse"] < 0.05, "the noise alone is 0.01; predicting the mean gives ~0.1"


def test_a_classifier_on_regression_data_is_exit_2(tmp_path: Path):
    result = dltrain("train", "data=quadratic", "model=mlp", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert "has no classification targets (it offers regression)" in result.stderr
    assert not (tmp_path / "run").exists()  # found by preflight's dry build
