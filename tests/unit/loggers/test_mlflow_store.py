"""logger=[mlflow]'s default local store, offline, in this process: the SQLite store beside the
run folders, a resume into the same MLflow run with the replayed steps skipped, artifacts, and
how a run ends (FINISHED, FAILED, KILLED)."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest

from dltrain.errors import Interrupted, RunError
from dltrain.loggers.base import LoggerRun
from dltrain.loggers.mlflow_logger import MLflowLogger

mlflow = pytest.importorskip("mlflow", reason="needs mlflow (pip install 'dltrain[mlflow]')")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: any connection attempt fails."""

    def refuse(*args, **kwargs):
        raise OSError("offline: no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _run_folder(parent: Path, name: str) -> Path:
    run_dir = parent / name
    (run_dir / "plots").mkdir(parents=True)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "config.yaml").write_text("seed: 1\n")
    (run_dir / "results.json").write_text("{}\n")
    (run_dir / "plots" / "loss.png").write_bytes(b"\x89PNG not really")
    (run_dir / "checkpoints" / "best.pt").write_bytes(b"weights")
    return run_dir


def _log_steps(logger: MLflowLogger, values: dict[int, float]) -> None:
    for step, value in values.items():
        logger.log({"epoch": 1, "step": step, "train/loss": value, "time": 1000.0 + step}, "step")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SQLAlchemy's, inside MLflow's store
def test_the_local_store_works_offline_and_a_resume_continues_its_run(
    offline, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # not a git repository: no commit tag
    runs = tmp_path / "outputs"
    run_dir = _run_folder(runs, "first")
    config = {"optimizer": {"name": "adam", "lr": 0.001}, "seed": 1}
    killed = MLflowLogger(LoggerRun(run_dir, config, resumed=False), log_model=True)
    _log_steps(killed, {2: 2.0, 4: 4.0, 6: 6.0})
    assert killed.sender.close(timeout=120)  # sent, then "killed": the run is never ended
    run_id = json.loads((run_dir / "mlflow.json").read_text())["run_id"]

    changed = {**config, "seed": 2}  # MLflow keeps a param's first value
    resumed = MLflowLogger(LoggerRun(run_dir, changed, resumed=True), log_model=True)
    _log_steps(resumed, {4: -4.0, 6: -6.0, 8: -8.0})  # from a checkpoint at step 2
    resumed.finish({"step": 8, "test/accuracy": 0.75, "best_score": 0.5})
    resumed.close()

    client = mlflow.MlflowClient(f"sqlite:///{runs / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("dltrain").experiment_id])
    assert found.info.run_id == run_id and found.info.status == "FINISHED"
    assert found.info.run_name == "first"
    history = client.get_metric_history(run_id, "step/train/loss")
    assert sorted((m.step, m.value) for m in history) == [(2, 2.0), (4, 4.0), (6, 6.0), (8, -8.0)]
    assert found.data.metrics["test/accuracy"] == 0.75
    assert found.data.params == {"optimizer.name": "adam", "optimizer.lr": "0.001", "seed": "1"}
    assert "mlflow.source.git.commit" not in found.data.tags
    assert found.data.tags["dltrain.run_dir"] == str(run_dir)
    artifacts = Path(found.info.artifact_uri)
    assert artifacts.is_relative_to(runs / "mlartifacts")
    files = sorted(str(p.relative_to(artifacts)) for p in artifacts.rglob("*") if p.is_file())
    assert files == ["checkpoints/best.pt", "config.yaml", "plots/loss.png", "results.json"]

    for name, error, status in (
        ("failed", RunError("the loss became NaN"), "FAILED"),
        ("stopped", Interrupted(signal.SIGTERM, "stopped by SIGTERM"), "KILLED"),
    ):
        logger = MLflowLogger(LoggerRun(_run_folder(runs, name), config, resumed=False))
        _log_steps(logger, {2: 1.0})
        try:
            raise error
        except type(error):
            logger.close()  # as the recipe's finally clause calls it
        ended = client.get_run(json.loads((runs / name / "mlflow.json").read_text())["run_id"])
        assert ended.info.status == status
