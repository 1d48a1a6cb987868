"""Subprocess runs of the catalog models: the U-Net flagship, loss auto, the optimizer comparison,
model.weights in a run and not again on resume. The table of bad model options runs through
dltrain's entry point in the test process (``dltrain_in_process``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from dltrain.testing.fake_data import write_fake_mnist
from tests.helpers.cli import dltrain, dltrain_in_process

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def garments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FashionMNIST-format garment silhouettes: foreground masks a U-Net can learn."""
    root = tmp_path_factory.mktemp("garments")
    write_fake_mnist(root, train_size=600, test_size=200, style="garments")
    return root


def test_unet_on_fashionmnist_learns_the_mask_in_one_epoch(garments: Path, tmp_path: Path):
    run = tmp_path / "run"
    result = dltrain(
        "train",
        "model=unet",
        "data=fashionmnist",
        f"data.root={garments}",
        "data.download=false",
        "data.batch_size=32",
        "optimizer.lr=3e-3",
        "trainer.max_epochs=1",
        f"hydra.run.dir={run}",
    )
    assert result.returncode == 0, result.stderr
    results = json.loads((run / "results.json").read_text())
    assert results["test/dice"] > 0.9 and results["test/iou"] > 0.8
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["loss"]["name"] == "dice_bce", "loss: auto is resolved before config.yaml"
    assert cfg["model"]["num_classes"] == 1 and cfg["model"]["base_width"] == 16


def test_unet_with_cross_entropy_is_exit_2_listing_the_losses_that_fit(tmp_path: Path):
    run = tmp_path / "run"
    result = dltrain("train", "model=unet", "loss=cross_entropy", f"hydra.run.dir={run}")
    assert result.returncode == 2
    assert "loss 'cross_entropy' does not fit a segmentation model" in result.stderr
    assert "dice_bce" in result.stderr and "Traceback" not in result.stderr
    assert not run.exists()


def test_summary_of_the_unet():
    result = dltrain("summary", "model=unet")
    assert result.returncode == 0, result.stderr
    assert "unet on input (batch, 1, 28, 28)" in result.stdout
    assert "outc.conv" in result.stdout and "total parameters: 1,942,289" in result.stdout


@pytest.mark.slow
def test_weights_load_in_a_run_and_not_again_on_resume(fmnist_root: Path, tmp_path: Path):
    from dltrain.models.classic import LeNet

    weights = tmp_path / "lenet.pt"
    torch.save({f"module.{k}": v for k, v in LeNet().state_dict().items()}, weights)
    run = tmp_path / "run"
    common = [
        "train",
        "model=lenet",
        f"model.weights={weights}",
        f"data.root={fmnist_root}",
        "data.download=false",
        "data.batch_size=128",
        f"hydra.run.dir={run}",
    ]
    first = dltrain(*common, "trainer.max_epochs=1")
    assert first.returncode == 0, first.stderr
    weights.write_bytes(b"not a weights file any more")
    resumed = dltrain(*common, "trainer.max_epochs=2")
    assert resumed.returncode == 0, "resuming takes the weights from last.pt: " + resumed.stderr
    assert json.loads((run / "results.json").read_text())["epoch"] == 2
    fresh = dltrain(*common[:-1], f"hydra.run.dir={tmp_path / 'fresh'}", "trainer.max_epochs=1")
    assert fresh.returncode == 2 and "cannot be read safely" in fresh.stderr


@pytest.mark.slow
def test_optimizer_comparison_experiment_and_its_plot(tmp_path: Path):
    sweep = tmp_path / "sweep"
    result = dltrain(
        "train",
        "-m",
        "experiment=optimizer_comparison",
        "trainer.max_epochs=2",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr
    jobs = [yaml.safe_load((sweep / str(i) / "config.yaml").read_text()) for i in range(4)]
    assert [(j["optimizer"]["name"], j["optimizer"].get("momentum")) for j in jobs] == [
        ("sgd", 0.0),
        ("momentum", 0.9),
        ("rmsprop", 0.0),
        ("adam", None),
    ]
    for job in jobs:
        assert job["model"]["name"] == "regression_mlp" and job["data"]["name"] == "quadratic"
        assert job["loss"]["name"] == "mse" and job["optimizer"]["lr"] == 0.01
        assert job["data"]["batch_size"] == 32
    plot = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "optimizer_comparison.py"), str(sweep)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plot.returncode == 0, plot.stderr
    assert (sweep / "optimizer_comparison.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.init=xavier_unifrm", "Did you mean 'xavier_uniform'? Known schemes: "),
        ("model.weights=/no/such/weights.pt", "model.weights=/no/such/weights.pt: no such file"),
        ("model.freeze=[nothing]", "no parameters under 'nothing'"),
        ("model=torchvision model.arch=resnet1", "Did you mean 'resnet18'?"),
    ],
)
def test_bad_model_options_are_exit_2(override: str, expected: str, fmnist_root: Path, tmp_path):
    run = tmp_path / "run"
    args = ["train", *override.split(), f"data.root={fmnist_root}", "data.download=false"]
    result = dltrain_in_process(*args, "trainer.max_epochs=1", f"hydra.run.dir={run}")
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not run.exists()  # checked before any folder exists (freeze: by the dry build)
