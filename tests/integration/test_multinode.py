"""Two "nodes" on localhost that share no folder: dltrain's own multi-node launch, each node
started from its own working folder with a relative hydra.run.dir, the rendezvous on
127.0.0.1. Only node 0's folder becomes the run; node 1's keeps its config.yaml alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import read_jsonl
from tests.integration.test_distributed import KILLER, SMALL


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_nodes(tmp_path: Path, *extra: str) -> list[subprocess.Popen]:
    port, procs = _free_port(), []
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "KILL_MARKER": str(tmp_path / "killed"),
    }
    # Node 1 starts first: its launcher gets the lower pid, so torchrun's c10d rendezvous
    # (hosts, then pids) would make it global rank 0; dltrain numbers ranks by node_rank.
    for node in (1, 0):
        home = tmp_path / f"node{node}"  # this node's working folder: nothing shared
        home.mkdir()
        command = [
            sys.executable, "-m", "dltrain", "train", *SMALL, *extra,
            "data.batch_size=32", "distributed=ddp", "distributed.nproc_per_node=1",
            "distributed.nnodes=2", f"distributed.node_rank={node}",
            f"distributed.rdzv_endpoint=127.0.0.1:{port}", "distributed.threads_per_process=1",
            "hydra.run.dir=run",
        ]  # fmt: skip
        procs.append(
            subprocess.Popen(
                command,
                cwd=home,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
        )
    return procs


def _finish(procs: list[subprocess.Popen], timeout: float = 240) -> list[str]:
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            pytest.fail(f"the two nodes did not finish in {timeout:g} s")
    return outputs


@pytest.mark.slow
def test_nodes_without_a_shared_folder_restart_and_resume_on_node_0(tmp_path: Path):
    """A worker is killed once mid-run; with distributed.max_restarts=1 both nodes restart,
    rank 0 (node 0, whatever the host names) reads last.pt and sends it to node 1's rank."""
    configs = tmp_path / "configs" / "model"
    configs.mkdir(parents=True)
    (tmp_path / "fragile.py").write_text(KILLER)
    (configs / "fragile.yaml").write_text(
        "name: fragile_mlp\nin_features: ${prod:${data.shape}}\nhidden: [32]\n"
        "num_classes: ${data.num_classes}\ndropout: 0.0\n"
    )
    procs = _start_nodes(
        tmp_path,
        "model=fragile",
        "imports=[fragile]",
        "trainer.max_epochs=3",
        "distributed.max_restarts=1",
        f"hydra.searchpath=[file://{tmp_path / 'configs'}]",
    )
    outputs = dict(zip(("node1", "node0"), _finish(procs), strict=True))
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outputs.values())
    assert (tmp_path / "killed").exists(), "a worker was killed once"
    run, other = tmp_path / "node0" / "run", tmp_path / "node1" / "run"
    assert (run / "results.json").is_file()
    assert (run / "checkpoints" / "best.pt").is_file()
    log = (run / "train.log").read_text()
    assert "resumed from" in log and "32 x 2 process(es) = 64 global" in log
    epochs = [e["epoch"] for e in read_jsonl(run / "metrics.jsonl") if "val/loss" in e]
    assert epochs == [1, 2, 3]
    assert sorted(p.name for p in other.iterdir()) == ["config.yaml"], "node 1 wrote no run"
    assert "node 1 of 2 finished" in outputs["node1"]
