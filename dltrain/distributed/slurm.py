"""A DDP job of several SLURM tasks: one torchrun per task, placed by SLURM's environment.

Why torchrun per task rather than one training process per task (reading SLURM_PROCID as
RANK): dltrain's DDP already runs on torchrun's launcher, which brings worker restarts
(``distributed.max_restarts``), the store the heartbeats use (liveness.py) and per-worker
error files; a task-per-rank job would have none of them. So each task of the job step
(``srun``, or submitit's ``tasks_per_node``/``nodes``) is one torchrun "node":
``nnodes`` = the step's tasks, ``node_rank`` = SLURM_PROCID, the c10d rendezvous on the
job's first host, its id the job id, each starting ``distributed.nproc_per_node`` workers.
Task 0 holds the run folder; the other tasks write nothing there. Torch-free.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RDZV_PORT_BASE = 29600  # the rendezvous port: base + job id % RDZV_PORT_SPAN
RDZV_PORT_SPAN = 2000


@dataclass(frozen=True)
class SlurmStep:
    """This process's place in a SLURM job step of several tasks."""

    job_id: str
    task: int  # SLURM_PROCID
    tasks: int  # SLURM_STEP_NUM_TASKS
    nodelist: str  # SLURM_JOB_NODELIST

    @property
    def holds_run_folder(self) -> bool:
        return self.task == 0


def slurm_step(env: Mapping[str, str] | None = None) -> SlurmStep | None:
    """The job step this process is a task of, when the step has more than one task; None
    outside SLURM, in the batch script itself (no SLURM_STEP_ID) and in one-task steps."""
    env = os.environ if env is None else env
    if "SLURM_JOB_ID" not in env or "SLURM_STEP_ID" not in env:
        return None
    tasks = int(env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or 1)
    if tasks < 2:
        return None
    return SlurmStep(
        job_id=env["SLURM_JOB_ID"],
        task=int(env.get("SLURM_PROCID", 0)),
        tasks=tasks,
        nodelist=env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST", ""),
    )


@contextmanager
def node_local_folder(step: SlurmStep) -> Iterator[Path]:
    """The run folder of a task that does not hold the real one (task > 0): a new folder on
    this node for its config.yaml (what its torchrun workers read), removed at the end. Its
    workers write nothing there: only global rank 0, on task 0, writes run files."""
    folder = Path(tempfile.mkdtemp(prefix=f"dltrain-slurm{step.job_id}-task{step.task}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list (``node[03-05,9],gpu1`` -> ``node03``):
    ``scontrol show hostnames`` where it exists, else the common forms parsed here."""
    if shutil.which("scontrol"):
        shown = subprocess.run(
            ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True
        )
        if shown.returncode == 0 and shown.stdout.split():
            return shown.stdout.split()[0]
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist)
    if match is None:
        return nodelist
    prefix, ranges = match.groups()
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def place_in_step(dist_cfg: Mapping[str, Any], step: SlurmStep | None) -> dict[str, Any]:
    """The distributed section for this task of ``step``: nnodes, node_rank, rdzv_endpoint
    (the job's first host; a configured endpoint is kept) and rdzv_id from SLURM. Unchanged
    outside a multi-task step."""
    placed = dict(dist_cfg)
    if step is None:
        return placed
    port = RDZV_PORT_BASE + int(re.sub(r"\D", "", step.job_id) or 0) % RDZV_PORT_SPAN
    placed.update(
        nnodes=step.tasks,
        node_rank=step.task,
        rdzv_endpoint=placed.get("rdzv_endpoint") or f"{first_host(step.nodelist)}:{port}",
        rdzv_id=f"slurm-{step.job_id}",
    )
    return placed


def preemption_signals() -> tuple[signal.Signals, ...]:
    """The signals that mean "save, then stop: the job is preempted or near its time limit":
    SIGUSR1 (``sbatch --signal=USR1@60``) and SIGUSR2 (submitit's default,
    SUBMITIT_PREEMPT_SIGNAL). A run treats them as SIGTERM: checkpoint, exit 128+N."""
    return (signal.SIGUSR1, signal.SIGUSR2)
