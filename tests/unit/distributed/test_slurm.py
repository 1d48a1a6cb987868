"""distributed/slurm.py: a SLURM job step's tasks as torchrun nodes, the preemption signals."""

from __future__ import annotations

import signal

from dltrain.distributed.slurm import (
    RDZV_PORT_BASE,
    first_host,
    node_local_folder,
    place_in_step,
    preemption_signals,
    slurm_step,
)

STEP = {
    "SLURM_JOB_ID": "42",
    "SLURM_STEP_ID": "0",
    "SLURM_STEP_NUM_TASKS": "2",
    "SLURM_PROCID": "1",
    "SLURM_JOB_NODELIST": "gpu[07-09],cpu1",
}
DDP = {"name": "ddp", "nproc_per_node": 4, "nnodes": 1, "node_rank": 0,
       "rdzv_endpoint": None, "rdzv_id": "dltrain"}  # fmt: skip


def test_a_task_of_a_multi_task_step_is_a_torchrun_node():
    step = slurm_step(STEP)
    assert step is not None and step.task == 1 and step.tasks == 2
    assert not step.holds_run_folder
    placed = place_in_step(DDP, step)
    assert placed["nnodes"] == 2 and placed["node_rank"] == 1
    assert placed["rdzv_id"] == "slurm-42"
    host, port = placed["rdzv_endpoint"].split(":")
    assert host == "gpu07" and int(port) == RDZV_PORT_BASE + 42
    assert placed["nproc_per_node"] == 4  # workers per task: the config's


def test_a_configured_rendezvous_endpoint_is_kept():
    placed = place_in_step({**DDP, "rdzv_endpoint": "head:29400"}, slurm_step(STEP))
    assert placed["rdzv_endpoint"] == "head:29400"


def test_no_step_outside_srun_or_with_one_task():
    assert slurm_step({}) is None
    batch_script = {k: v for k, v in STEP.items() if k != "SLURM_STEP_ID"}
    assert slurm_step(batch_script) is None
    assert slurm_step({**STEP, "SLURM_STEP_NUM_TASKS": "1"}) is None
    assert place_in_step(DDP, None) == DDP


def test_first_host_of_node_lists(monkeypatch):
    monkeypatch.setenv("PATH", "")  # no scontrol: the forms parsed here
    assert first_host("node[03-05,9],gpu1") == "node03"
    assert first_host("a,b") == "a"
    assert first_host("vm") == "vm"


def test_preemption_signals_and_the_node_local_folder():
    assert set(preemption_signals()) == {signal.SIGUSR1, signal.SIGUSR2}
    with node_local_folder(slurm_step(STEP)) as folder:
        assert folder.is_dir() and "task1" in folder.name
    assert not folder.exists()
