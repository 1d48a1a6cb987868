"""logger=[csv,tensorboard,wandb], plots=true and progress output of a real `dltrain train` run.

One run serves every test here: two parameter groups (the head at 10x the rate), the model
graph, and W&B offline when wandb is installed (its tests skip otherwise).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.helpers.cli import dltrain, fast_train_args, read_jsonl
from tests.helpers.tensorboard import scalars

HAS_WANDB = importlib.util.find_spec("wandb") is not None
needs_wandb = pytest.mark.skipif(not HAS_WANDB, reason="needs pip install 'dltrain[wandb]'")


@pytest.fixture(scope="module")
def logged_run(fmnist_root: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("logged") / "run"
    loggers = "logger=[csv,tensorboard,wandb]" if HAS_WANDB else "logger=[csv,tensorboard]"
    args = fast_train_args(
        fmnist_root, folder, loggers, "plots=true", "logger.tensorboard.graph=true",
        "optimizer.param_groups=[{match: fc, lr: 1e-2}]",
    )  # fmt: skip
    result = dltrain(*args)
    assert result.returncode == 0, result.stderr
    return folder, result


def test_tensorboard_has_every_logged_value(logged_run):
    run, _ = logged_run
    logged = scalars(run / "tensorboard")
    events = read_jsonl(run / "metrics.jsonl")
    epochs = [e for e in events if "epoch_seconds" in e]
    for key in ("train/loss", "train/accuracy", "val/loss", "val/accuracy"):
        assert logged[key] == [(e["step"], pytest.approx(e[key])) for e in epochs], key
    for key in ("epoch/lr", "epoch/images_per_sec", "epoch/epoch_seconds", "epoch/epoch"):
        assert [s for s, _ in logged[key]] == [9, 18], key
    steps = [e for e in events if "epoch_seconds" not in e]
    assert [e["step"] for e in steps] == [4, 8, 12, 16]
    for tag, key in (("step/train_loss", "train/loss"), ("step/grad_norm", "grad_norm"),
                     ("step/lr", "lr"), ("step/images_per_sec", "images_per_sec")):  # fmt: skip
        assert logged[tag] == [(e["step"], pytest.approx(e[key], rel=1e-5)) for e in steps], tag


def test_tensorboard_has_each_groups_rate_and_no_wall_clock_curve(logged_run):
    run, _ = logged_run
    logged = scalars(run / "tensorboard")
    events = read_jsonl(run / "metrics.jsonl")
    for key in ("lr/group0", "lr/group1"):
        assert logged[key] == [(e["step"], pytest.approx(e[key])) for e in events], key
    assert [s for s, _ in logged["lr/group0"]] == [4, 8, 9, 12, 16, 18]
    assert logged["lr/group1"][0][1] == pytest.approx(10 * logged["lr/group0"][0][1])
    assert not [t for t in logged if t.endswith("time")], "time is the points' wall time"


def test_tensorboard_has_the_tested_metrics_the_hparams_tab_and_the_graph(logged_run):
    from tensorboard.plugins.hparams import plugin_data_pb2

    run, _ = logged_run
    results = json.loads((run / "results.json").read_text())
    logged = scalars(run / "tensorboard")
    for key in ("test/loss", "test/accuracy"):
        assert logged[key] == [(18, pytest.approx(results[key]))], key
    assert logged["best/val/accuracy"] == [(18, pytest.approx(results["val/accuracy"]))]
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    names = {info.name for info in experiment.experiment.hparam_infos}
    assert {"optimizer.lr", "model.name", "data.batch_size", "trainer.max_epochs"} <= names
    metrics = {info.name.tag for info in experiment.experiment.metric_infos}
    assert metrics == {"best/val/loss", "best/val/accuracy", "test/loss", "test/accuracy"}
    assert events.Tags()["graph"], "logger.tensorboard.graph=true"
    assert "Conv2d" in str(events.Graph())


@needs_wandb
def test_wandb_offline_run_holds_the_config_every_value_and_the_summary(logged_run):
    from tests.helpers.wandb_records import offline_sessions

    run, result = logged_run
    (session,) = offline_sessions(run)
    assert session.run_id == json.loads((run / "wandb" / "dltrain-run.json").read_text())["id"]
    assert session.name == "run" and session.exit_code == 0
    assert session.config["optimizer"]["param_groups"] == [{"match": "fc", "lr": 0.01}]
    assert session.config["data"]["batch_size"] == 64
    events = read_jsonl(run / "metrics.jsonl")
    rows = {row["_step"]: row for row in session.history}
    assert sorted(rows) == [4, 8, 9, 12, 16, 18]
    for event in events:
        row = rows[event["step"]]
        if "epoch_seconds" in event:
            assert row["train/loss"] == pytest.approx(event["train/loss"])
            assert row["val/accuracy"] == pytest.approx(event["val/accuracy"])
        else:
            assert row["step/train_loss"] == pytest.approx(event["train/loss"])
        assert row["lr/group1"] == pytest.approx(event["lr/group1"])
    results = json.loads((run / "results.json").read_text())
    for key in ("test/accuracy", "test/loss", "val/accuracy", "best_score", "best_epoch"):
        assert session.summary[key] == pytest.approx(results[key]), key
    assert rows[18]["plots/samples/_type"] == "image-file"
    assert "wandb sync " in (run / "train.log").read_text()
    assert "Tracking run" not in result.stdout + result.stderr, "W&B's console output is off"


def test_tensorboard_has_the_prediction_gallery_as_images(logged_run):
    run, _ = logged_run
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert set(events.Tags()["images"]) == {"predictions/samples", "predictions/confusion_matrix"}
    samples = events.Images("predictions/samples")
    assert [image.step for image in samples] == [18]
    assert samples[0].width > 100 and samples[0].height > 100


def test_metrics_csv_has_the_union_of_columns(logged_run):
    run, _ = logged_run
    with (run / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    events = read_jsonl(run / "metrics.jsonl")
    assert len(rows) == len(events)
    header = list(rows[0])
    assert header[:2] == ["epoch", "step"]
    assert set(header) == {key for event in events for key in event}
    for row, event in zip(rows, events, strict=True):
        for key in header:
            assert row[key] == ("" if key not in event else str(event[key])), key


def test_plots_true_writes_the_pngs_at_the_end(logged_run):
    run, result = logged_run
    names = {p.name for p in (run / "plots").iterdir()}
    assert names == {"loss.png", "accuracy.png", "lr.png", "confusion_matrix.png", "samples.png"}
    assert "plots: 5 PNG files" in result.stdout


def test_no_bar_without_a_terminal_but_step_lines(logged_run):
    _, result = logged_run
    assert "\r" not in result.stderr and "batch/s" not in result.stderr
    assert "epoch 1/2  step 4/18  train/loss " in result.stdout and " eta 0:" in result.stdout


def test_help_list_and_logger_checks_import_neither_torch_nor_matplotlib_nor_mlflow():
    code = (
        "import sys\n"
        "from dltrain.cli import main\n"
        "from dltrain.loggers import check_loggers\n"
        "check_loggers({'csv': {'name': 'csv'}, 'tensorboard': {'name': 'tensorboard'},\n"
        "               'mlflow': {'name': 'mlflow', 'tags': {'team': 'vision'}}})\n"
        "main(['list'])\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'matplotlib', 'tensorboard', 'mlflow')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "plot" in out.stdout and "predict" in out.stdout and "export" in out.stdout
