"""dltrain on a real (one-node) SLURM: submitit_slurm sweeps, a DDP job of two tasks, and a
requeue after a preemption signal that resumes in the same folder (``slurm_cluster``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import TINY_MLP, read_jsonl
from tests.helpers.slurm import SlurmCluster

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")

# A tiny MLP on synthetic data: each job is a few seconds of training.
SMALL = [
    *TINY_MLP,
    "data.batch_size=32",
    "trainer.max_epochs=2",
    "distributed.threads_per_process=1",
]
# timeout_min stays at its 60: submitit counts a signal in the last 10 minutes as a time-out
# (not requeued with max_num_timeout=0), any earlier one as a preemption (requeued).
LAUNCHER = ["hydra/launcher=submitit_slurm"]


def _sweep(
    cluster: SlurmCluster, sweep_dir: Path, *args: str, env: dict | None = None
) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "dltrain", "train", "-m", *LAUNCHER, *SMALL, *args,
        f"hydra.sweep.dir={sweep_dir}",
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        env={**cluster.env, "OMP_NUM_THREADS": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _output(proc: subprocess.Popen, cluster: SlurmCluster, timeout: float = 240) -> str:
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        queue = cluster.run("squeue").stdout
        pytest.fail(f"the sweep did not finish in {timeout:g} s; squeue:\n{queue}")


@pytest.mark.slow
def test_a_ddp_job_of_two_slurm_tasks(slurm_cluster: SlurmCluster, tmp_path: Path):
    """Two tasks, one torchrun each (node ranks 0 and 1 from SLURM_PROCID), one process each:
    a 2-rank DDP run whose folder task 0 holds."""
    sweep = tmp_path / "sweep"
    proc = _sweep(
        slurm_cluster,
        sweep,
        "hydra.launcher.tasks_per_node=2",
        "hydra.launcher.cpus_per_task=1",
        "distributed=ddp",
        "distributed.nproc_per_node=1",
    )
    out = _output(proc, slurm_cluster)
    assert proc.returncode == 0, out
    job = sweep / "0"
    assert (job / "results.json").is_file(), out
    assert "32 x 2 process(es) = 64 global" in (job / "train.log").read_text()
    assert json.loads((job / "job.json").read_text())["status"] == "completed"


def _job_id(cluster: SlurmCluster, deadline: float) -> str:
    """The SLURM id of job 0 of the sweep (submitit submits an array: ``ID_0``)."""
    while time.monotonic() < deadline:
        ids = cluster.run("squeue", "-h", "-t", "RUNNING", "-o", "%i").stdout.split()
        if any(i.endswith("_0") for i in ids):
            return next(i for i in ids if i.endswith("_0"))
        time.sleep(0.2)
    pytest.fail("job 0 of the sweep did not start")


def _wait_for(predicate: Callable[[], bool], what: str, deadline: float) -> None:
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_a_sweep_whose_preempted_job_is_requeued_and_resumes(
    slurm_cluster: SlurmCluster, tmp_path: Path
):
    """A 2-job submitit_slurm sweep; ``scancel --signal=USR1`` (the signal submitit is set to
    here) on job 0: it saves last.pt, submitit requeues it, and the requeued job resumes in
    the same folder. Both jobs end with results.json; sacct's warnings are said once."""
    sweep, deadline = tmp_path / "sweep", time.monotonic() + 300
    metrics = sweep / "0" / "metrics.jsonl"
    proc = _sweep(
        slurm_cluster, sweep, "hydra.launcher.cpus_per_task=1", "trainer.max_epochs=20",
        "optimizer.lr=1e-3,2e-3", env={"SUBMITIT_PREEMPT_SIGNAL": "USR1"},
    )  # fmt: skip
    job_id = _job_id(slurm_cluster, deadline)
    _wait_for(lambda: metrics.is_file() and "val/loss" in metrics.read_text(), "epoch 1", deadline)
    signalled = slurm_cluster.run("scancel", "--signal=USR1", job_id)
    assert signalled.returncode == 0, signalled.stderr

    def requeued() -> bool:
        state = slurm_cluster.run("squeue", "-h", "-j", job_id, "-o", "%T").stdout.strip()
        return state == "PENDING" or proc.poll() is not None

    _wait_for(requeued, "the requeue", deadline)
    # SLURM holds a requeued job back two minutes; start it now, as an admin could.
    slurm_cluster.run("scontrol", "update", f"JobId={job_id}", "StartTime=now")
    out = _output(proc, slurm_cluster, timeout=max(1.0, deadline - time.monotonic()))
    assert proc.returncode == 0, out
    log = (sweep / "0" / "train.log").read_text()
    assert "resumed from" in log, log
    assert [e["epoch"] for e in read_jsonl(metrics) if "val/loss" in e] == list(range(1, 21))
    assert "resumed from" not in (sweep / "1" / "train.log").read_text()
    for job in ("0", "1"):
        assert (sweep / job / "results.json").is_file(), out
        assert json.loads((sweep / job / "job.json").read_text())["status"] == "completed"
        assert not (sweep / job / ".dltrain.lock").exists()
    assert "Bypassing sacct error" not in out
    assert out.count("sacct cannot report job states") <= 1
