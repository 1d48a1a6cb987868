"""Every debug= preset as a real `dltrain train` run at tiny size, a run with frozen BatchNorm, and
two shipped defaults the tutorials' inventory found wrong (lbfgs, fp16 on a CPU)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from tests.helpers.cli import dltrain, fast_train_args, read_jsonl

QUADRATIC = ["train", "data=quadratic", "model=regression_mlp", "logging.progress=off"]


def train(fmnist_root: Path, run: Path, *extra: str) -> str:
    """A tiny FashionMNIST run that must exit 0; its train.log."""
    result = dltrain(*fast_train_args(fmnist_root, run, "data.batch_size=32", *extra))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return (run / "train.log").read_text()


def epochs(run: Path) -> list[dict]:
    return [e for e in read_jsonl(run / "metrics.jsonl") if "epoch_seconds" in e]


def quadratic(run: Path, *extra: str) -> str:
    """A run of the tutorials' regression toy that must exit 0; its train.log."""
    result = dltrain(*QUADRATIC, *extra, f"hydra.run.dir={run}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return (run / "train.log").read_text()


def test_fast_dev_run_keeps_only_config_and_log(tmp_path: Path):
    run = tmp_path / "run"
    log = quadratic(run, "debug=fast_dev_run", "logger=[csv]", "plots=true", "precision=fp16")
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "train.log"]
    assert "1 steps per epoch" in log and "test/loss" in log
    assert log.count("precision=fp16 on a CPU") == 1 and "precision=bf16" in log


def test_overfit_drives_the_loss_down_on_the_same_batches(fmnist_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    train(fmnist_root, run, "debug=overfit", "trainer.overfit_batches=2", "trainer.max_epochs=6")
    records = epochs(run)
    assert [r["step"] for r in records] == [2, 4, 6, 8, 10, 12]
    assert records[-1]["train/loss"] < records[0]["train/loss"]
    assert records[-1]["val/loss"] < records[0]["val/loss"]  # validated on those batches


def test_limit_shortens_epochs_and_the_schedule_follows(fmnist_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    extra = ("debug=limit", "trainer.limit_train_batches=3", "trainer.max_epochs=2")
    train(fmnist_root, run, *extra, "scheduler=cosine")
    records = epochs(run)
    assert [r["step"] for r in records] == [3, 6]
    assert records[-1]["lr"] == 0.0  # cosine reaches its end with the limited run
    results = json.loads((run / "results.json").read_text())
    assert results["test/accuracy"] is not None


def test_profiler_writes_traces_and_the_top_operators(fmnist_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    log = train(fmnist_root, run, "debug=profiler", "trainer.max_steps=6")
    chrome = json.loads((run / "profiler" / "chrome_trace_1.json").read_text())
    assert any(e.get("name") == "aten::convolution" for e in chrome["traceEvents"])
    assert list((run / "profiler").glob("rank0.*.pt.trace.json"))
    assert "top 15 operators by self CPU time" in log and "aten::" in log


def test_anomaly_detection_with_lbfgs_whose_default_converges(tmp_path: Path):
    run = tmp_path / "run"
    extra = ("optimizer=lbfgs", "trainer.max_epochs=1", "data.batch_size=128")
    log = quadratic(run, "debug=anomaly", *extra)
    assert "autograd anomaly detection is on" in log
    # torch's default (no line search) at lr 1.0 makes NaN by the second epoch at batch 32
    (val_loss,) = [r["val/loss"] for r in epochs(run)]
    assert math.isfinite(val_loss) and val_loss < 0.05  # the noise's variance is 0.01


def test_frozen_blocks_keep_their_batchnorm_statistics(fmnist_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    freeze = "model.freeze=[conv1,bn1,layer1]"
    train(fmnist_root, run, "model=torchvision", freeze, "trainer.max_steps=2")
    model = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    means = {k: v for k, v in model.items() if k.endswith("running_mean")}
    for name, mean in means.items():
        frozen = name.startswith(("bn1.", "layer1."))
        var = model[name.replace("running_mean", "running_var")]
        fresh = not mean.any() and bool((var == 1).all())  # a new BatchNorm's statistics
        assert fresh == frozen, name
