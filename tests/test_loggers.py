"""logger=[csv,tensorboard], plots=true, gradient norm and progress output of a real run."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dltrain.errors import UserError
from dltrain.loggers import check_loggers
from dltrain.loggers.csv_logger import CSVLogger
from dltrain.loggers.tensorboard_logger import TensorBoardLogger
from dltrain.loggers.writer import MetricsWriter
from dltrain.train.console import RunClock, run_steps, step_line
from dltrain.train.grad_norm import GradNorm
from dltrain.train.run_files import MetricsFile
from tests.conftest import dltrain, fast_train_args, read_jsonl


@pytest.fixture(scope="module")
def logged_run(fmnist_root: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("logged") / "run"
    args = fast_train_args(fmnist_root, folder, "logger=[csv,tensorboard]", "plots=true")
    result = dltrain(*args)
    assert result.returncode == 0, result.stderr
    return folder, result


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}


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


def test_grad_norm_is_measured_before_the_step_on_due_steps_only():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    due = [True, False]
    probe = GradNorm(optimizer, due=lambda: due[0])
    model(torch.randn(5, 3)).square().sum().backward()
    expected = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
    optimizer.step()
    assert probe.take() == {"grad_norm": pytest.approx(expected.item())}
    assert probe.take() == {}
    due[0] = False
    optimizer.step()
    assert probe.take() == {}


def test_csv_logger_appends_rewrites_and_follows_a_truncated_jsonl(tmp_path: Path):
    metrics = MetricsFile(tmp_path / "metrics.jsonl")
    writer = MetricsWriter(metrics, [CSVLogger(tmp_path)], enabled=True)
    writer.log_step({"epoch": 1, "step": 2, "train/loss": 0.5})
    writer.log_step({"epoch": 1, "step": 4, "train/loss": float("nan")})
    writer.log_epoch({"epoch": 1, "step": 4, "train/loss": 0.4, "val/loss": 0.3})
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines == ["epoch,step,train/loss,val/loss", "1,2,0.5,", "1,4,,", "1,4,0.4,0.3"]
    metrics.truncate(1)  # a resume from a checkpoint taken after the first event
    resumed = MetricsWriter(metrics, [CSVLogger(tmp_path)], enabled=True)
    resumed.log_step({"epoch": 1, "step": 4, "train/loss": 0.45})
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines == ["epoch,step,train/loss", "1,2,0.5", "1,4,0.45"]
    MetricsWriter(metrics, [CSVLogger(tmp_path)], enabled=False).log_step({"epoch": 9, "step": 9})
    assert metrics.lines() == 2, "only rank 0 writes"


def test_tensorboard_resume_purges_what_came_after_the_checkpoint(tmp_path: Path):
    first = TensorBoardLogger(tmp_path)
    for step in (2, 4, 6):
        first.log({"epoch": 1, "step": step, "train/loss": float(step)}, "step")
    first.close()
    resumed = TensorBoardLogger(tmp_path)  # the checkpoint was at step 2
    for step in (4, 6, 8):
        resumed.log({"epoch": 1, "step": step, "train/loss": -float(step)}, "step")
    resumed.close()
    assert scalars(tmp_path / "tensorboard")["step/train_loss"] == [
        (2, 2.0), (4, -4.0), (6, -6.0), (8, -8.0)
    ]  # fmt: skip


def test_unknown_or_uninstalled_logger_is_a_user_error(monkeypatch):
    check_loggers(["csv", "tensorboard"])
    with pytest.raises(UserError, match="unknown logger 'tensorbord'. Did you mean 'tensorboard'"):
        check_loggers(["tensorbord"])
    with pytest.raises(UserError, match="twice"):
        check_loggers(["csv", "csv"])
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "tensorboard" else real(n, *a)
    )
    with pytest.raises(UserError, match=r"pip install 'dltrain\[tensorboard\]'"):
        check_loggers(["tensorboard"])


def test_progress_bar_only_on_a_terminal_and_rank_0(monkeypatch):
    from dltrain.train.console import progress_bar as _progress_bar
    from dltrain.train.state import Progress

    loader = [1, 2, 3]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert _progress_bar(loader, Progress(), 2, "auto", True) is loader
    assert _progress_bar(loader, Progress(), 2, "on", False) is loader
    bar = _progress_bar(loader, Progress(), 2, "on", True)
    assert bar is not loader and bar.total == 3 and bar.desc == "epoch 1/2"
    bar.close()


def test_run_clock_and_step_line():
    assert run_steps(10, {"max_epochs": 3, "max_steps": -1}) == 30
    assert run_steps(10, {"max_epochs": 3, "max_steps": 25}) == 25
    clock = RunClock(100, 20)
    assert clock.eta(20) == "?"
    clock.started -= 8.0  # 10 steps took 8 s: 70 left take 56 s
    assert clock.eta(30) == "0:00:56"
    event = {"epoch": 2, "step": 30, "train/loss": 0.25, "lr": 1e-3, "images_per_sec": 1234.5}
    line = step_line(event, 5, clock)
    assert line.startswith("epoch 2/5  step 30/100  train/loss 0.2500  lr 1.00e-03  1234 img/s")


def test_help_and_list_import_neither_torch_nor_matplotlib():
    code = (
        "import sys\n"
        "from dltrain.cli import main\n"
        "from dltrain.loggers import check_loggers\n"
        "check_loggers(['csv', 'tensorboard'])\n"
        "main(['list'])\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'tensorboard') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "plot" in out.stdout and "predict" in out.stdout and "export" in out.stdout
