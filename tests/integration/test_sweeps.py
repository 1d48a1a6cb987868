"""Multirun sweeps: a fresh process per job, job status files, failures, resume, launchers."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import dltrain
from tests.helpers.sweep import SWEEP_TIMEOUT, TINY, job, sweep


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("grid") / "sweep"
    result = sweep(folder, "optimizer=sgd,adam", "optimizer.lr=1e-3,1e-2")
    assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.slow
def test_grid_runs_every_job_in_its_own_folder(grid: Path):
    overrides = set()
    for num in range(4):
        status = job(grid, num)
        assert status["status"] == "completed" and status["exit_code"] == 0
        assert (grid / str(num) / "results.json").is_file()
        assert (grid / str(num) / "config.yaml").is_file()
        assert status["objective"] is not None and status["monitor"] == "val/accuracy"
        overrides.add(tuple(o for o in status["overrides"] if o.startswith("optimizer")))
    assert len(overrides) == 4
    assert not (grid / "4").exists()


@pytest.mark.slow
def test_report_writes_table_csv_markdown_and_curves(grid: Path):
    result = dltrain("report", str(grid))
    assert result.returncode == 0, result.stderr
    for name in ("report.csv", "report.md", "report.png"):
        assert (grid / name).stat().st_size > 0, name
    rows = list(csv.DictReader((grid / "report.csv").open()))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    scores = [float(r["val/accuracy (max)"]) for r in rows]
    assert scores == sorted(scores, reverse=True), "best objective first"
    assert "optimizer=adam" in result.stdout and "| job | status |" in result.stdout
    assert (grid / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_report_of_a_missing_folder_is_a_user_error(tmp_path: Path):
    result = dltrain("report", str(tmp_path / "nope"))
    assert result.returncode == 2 and "not a folder" in result.stderr


@pytest.mark.slow
def test_a_failed_job_is_recorded_and_the_others_still_run(tmp_path: Path):
    folder = tmp_path / "sweep"
    result = sweep(folder, "optimizer=sgd", "optimizer.lr=1e30,1e-2")
    assert result.returncode == 1
    assert "1 job(s) failed" in result.stderr and "optimizer.lr=1e+30" in result.stderr
    assert job(folder, 0)["status"] == "failed" and job(folder, 0)["exit_code"] == 1
    assert job(folder, 1)["status"] == "completed"
    assert (folder / "1" / "results.json").is_file()


@pytest.mark.slow
def test_an_interrupted_sweep_rerun_skips_completed_jobs_and_resumes_the_rest(tmp_path: Path):
    folder = tmp_path / "sweep"
    # job 0 finishes in 1 epoch; job 1 has 6 long ones, so the SIGTERM finds it mid-run
    args = ["trainer.max_epochs=1,6", "data.train_size=1600"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dltrain", "train", "-m", *TINY, *args, f"hydra.sweep.dir={folder}"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + SWEEP_TIMEOUT
    while not (folder / "1" / "checkpoints" / "last.pt").exists():  # job 1 is mid-run
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # the sweep passes it on; job 1 saves and stops
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert job(folder, 0)["status"] == "completed"
    assert job(folder, 1)["status"] == "interrupted"
    done = (folder / "0" / "results.json").stat().st_mtime_ns

    result = sweep(folder, *args)
    assert result.returncode == 0, result.stderr
    assert "job 0 already completed" in result.stdout
    assert (folder / "0" / "results.json").stat().st_mtime_ns == done, "job 0 not re-run"
    assert "resumed from" in (folder / "1" / "train.log").read_text()
    assert job(folder, 1)["status"] == "completed"


def test_a_bad_sweep_value_stops_before_any_job(tmp_path: Path):
    folder = tmp_path / "sweep"
    result = sweep(folder, "data.batch_size=32,-5")
    assert result.returncode == 2
    assert "batch_size" in result.stderr and "Traceback" not in result.stderr
    assert not folder.exists()


def test_parallel_launcher_runs_jobs_at_once_one_gpu_each(tmp_path: Path):
    folder = tmp_path / "sweep"
    result = sweep(
        folder,
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        "hydra.launcher.gpus='3,5'",
        "optimizer.lr=1e-3,1e-2",
    )
    assert result.returncode == 0, result.stderr
    first, second = job(folder, 0), job(folder, 1)
    assert {first["cuda_visible_devices"], second["cuda_visible_devices"]} == {"3", "5"}
    assert first["started"] < second["ended"] and second["started"] < first["ended"]


@pytest.mark.slow
def test_submitit_local_launcher_runs_two_jobs(tmp_path: Path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    folder = tmp_path / "sweep"
    result = sweep(folder, "hydra/launcher=submitit_local", "optimizer.lr=1e-3,1e-2")
    assert result.returncode == 0, result.stderr
    assert job(folder, 0)["status"] == job(folder, 1)["status"] == "completed"
    assert (folder / ".submitit").is_dir()
