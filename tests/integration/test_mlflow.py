"""logger=[mlflow] against a real MLflow tracking server, read back with ``mlflow.MlflowClient``.

One run is killed (SIGKILL) after a step checkpoint, once the server holds a step logged past
that checkpoint, and resumed: the resumed process must append to the same MLflow run with no
step twice, and the run as read back must equal its run folder (params, every metric's history
against metrics.jsonl, results, tags, artifacts). A run whose server is gone finishes with one
warning.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from tests.helpers.cli import dltrain, fast_train_args, read_jsonl
from tests.helpers.mlflow_server import closed_port, mlflow_server

mlflow = pytest.importorskip("mlflow", reason="needs mlflow (pip install 'dltrain[mlflow]')")


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory):
    """A real tracking server (sqlite store, artifacts proxied) for this module's tests."""
    if shutil.which("mlflow") is None:
        pytest.skip("the mlflow command is not installed (pip install 'dltrain[mlflow]')")
    with mlflow_server(tmp_path_factory.mktemp("mlflow_server")) as url:
        yield url


KILLER = textwrap.dedent('''
    """SIGKILL this process in its KILL_FORWARD-th training forward pass (not the preflight's
    on the meta device, not validation's), as soon as the MLflow run of KILL_RUN_DIR holds the
    point KILL_AFTER (metric:step)."""
    import json, os, signal, time
    from pathlib import Path
    import torch

    calls = 0

    def kill_once_logged(module, args):
        global calls
        if module.__class__.__name__ != "FashionCNN" or not module.training:
            return
        if args[0].device.type == "meta":
            return
        calls += 1
        if calls != int(os.environ.get("KILL_FORWARD", "0")):
            return
        from mlflow import MlflowClient

        record, (key, step) = Path(os.environ["KILL_RUN_DIR"]) / "mlflow.json", \\
            os.environ["KILL_AFTER"].rsplit(":", 1)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if record.exists():
                run = json.loads(record.read_text())
                client = MlflowClient(run["tracking_uri"])
                if any(m.step == int(step) for m in client.get_metric_history(run["run_id"], key)):
                    os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.2)
        raise SystemExit("the MLflow run never held " + os.environ["KILL_AFTER"])

    torch.nn.modules.module.register_module_forward_pre_hook(kill_once_logged)
''')
TIMING = ("images_per_sec", "epoch_seconds")  # differ between the killed and the resumed process


def _git_repository(folder: Path) -> str | None:
    """``folder`` (the run's working folder) made a git repository with one commit: its
    commit (None where git is not installed)."""
    folder.mkdir()
    if shutil.which("git") is None:
        return None
    (folder / "README").write_text("work\n")
    for command in (
        ["init", "-q"],
        ["add", "README"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start"],
    ):
        subprocess.run(["git", *command], cwd=folder, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True)
    return head.stdout.strip()


@pytest.mark.slow
def test_a_killed_run_resumes_into_the_same_mlflow_run_with_no_step_twice(
    fmnist_root, mlflow_url, tmp_path
):
    (tmp_path / "mlflow_killer.py").write_text(KILLER)
    work = tmp_path / "work"
    commit = _git_repository(work)
    run = tmp_path / "run"
    args = fast_train_args(
        fmnist_root, run, "experiment=fmnist_tutorial", "data.batch_size=64",
        "trainer.max_epochs=1", "deterministic=true", "checkpoint.every_n_steps=3",
        "logger=[mlflow]", f"logger.mlflow.tracking_uri={mlflow_url}",
        "logger.mlflow.log_model=true", "logger.mlflow.tags={team: vision}",
        "imports=[mlflow_killer]",
    )  # fmt: skip
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    env = {"PYTHONPATH": path, "KILL_RUN_DIR": str(run)}
    # 9 steps, logged every 4, saved every 3: killed in step 9 once step 8 is logged, it resumes
    # from step 6 and logs step 8 again
    killed = dltrain(*args, cwd=work, env={**env, "KILL_FORWARD": "9", "KILL_AFTER": "step/lr:8"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    first_id = json.loads((run / "mlflow.json").read_text())["run_id"]
    resumed = dltrain(*args, cwd=work, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in (run / "train.log").read_text()

    client = mlflow.MlflowClient(mlflow_url)
    experiment = client.get_experiment_by_name("fmnist_tutorial")  # the experiment= preset
    (found,) = client.search_runs([experiment.experiment_id])  # one MLflow run, not two
    run_id = found.info.run_id
    assert run_id == first_id and found.info.status == "FINISHED"
    assert found.info.run_name == "run"
    _assert_metrics_equal_the_run_folder(client, run_id, run)
    params = found.data.params
    assert params["optimizer.lr"] == "0.001" and params["data.batch_size"] == "64"
    assert params["logger.mlflow.tracking_uri"] == mlflow_url
    tags = found.data.tags
    assert tags["team"] == "vision" and tags["dltrain.run_dir"] == str(run.resolve())
    assert tags["torch.version"] == metadata.version("torch")
    assert tags.get("mlflow.source.git.commit") == commit
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "results.json", "checkpoints"} <= artifacts
    best = client.download_artifacts(run_id, "checkpoints/best.pt", str(tmp_path))
    assert Path(best).read_bytes() == (run / "checkpoints" / "best.pt").read_bytes()


def _assert_metrics_equal_the_run_folder(client, run_id: str, run: Path) -> None:
    """Every metric's MLflow history is its metrics.jsonl series (step events under step/),
    each step once; results.json's test values at the last step."""
    expected: dict[str, list[tuple[int, float]]] = {}
    for event in read_jsonl(run / "metrics.jsonl"):
        step_event = "time" in event
        for key, value in event.items():
            if key in ("step", "time") or (step_event and key == "epoch"):
                continue
            name = f"step/{key}" if step_event else key
            expected.setdefault(name, []).append((event["step"], value))
    logged = client.get_run(run_id).data.metrics
    results = json.loads((run / "results.json").read_text())
    assert {k for k in logged if not k.startswith(("test/", "results/"))} == set(expected)
    for name, series in expected.items():
        history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, name))
        if name.rpartition("/")[2] in TIMING:
            assert [s for s, _ in history] == [s for s, _ in series], name
        else:
            assert history == series, name
    assert logged["test/accuracy"] == pytest.approx(results["test/accuracy"])
    assert logged["results/best_score"] == pytest.approx(results["best_score"])


def test_a_tracking_server_that_is_gone_is_one_warning_and_the_run_finishes(fmnist_root, tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    run = tmp_path / "run"
    args = fast_train_args(
        fmnist_root, run, "trainer.max_epochs=1", "trainer.max_steps=2", "logger=[mlflow]",
        f"logger.mlflow.tracking_uri={url}",
    )  # fmt: skip
    # no retries: the refusal is reported at once (the logger's own default retries 3 times)
    result = dltrain(*args, cwd=tmp_path, env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "results.json").is_file()
    log = (run / "train.log").read_text()
    warnings = [line for line in log.splitlines() if f"WARNING MLflow at {url}" in line]
    assert len(warnings) == 1, log[-3000:]
    assert "Nothing more is sent" in warnings[0]
