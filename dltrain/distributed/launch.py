"""Run a frozen config: in this process, or as torchrun workers for distributed=ddp|fsdp."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dltrain.distributed import launches_workers


def run_frozen(plain: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Run a frozen config: in this process, or as torchrun workers for distributed=ddp|fsdp.

    The results of the run, or {} on a node other than node 0 of a multi-node run: global
    rank 0 writes the run folder, on node 0, and that node may share no filesystem with this
    one (this node's folder holds its config.yaml only).
    """
    if launches_workers(plain["distributed"]["name"]):
        from dltrain.distributed.slurm import place_in_step, slurm_step
        from dltrain.distributed.torchrun import launch_workers

        placed = place_in_step(plain["distributed"], slurm_step())
        launch_workers(placed, run_dir)
        if placed["node_rank"] != 0:
            print(
                f"dltrain: node {placed['node_rank']} of {placed['nnodes']} finished; the run "
                "folder (checkpoints, metrics, results.json) is written by node 0",
                flush=True,
            )
            return {}
        return json.loads((run_dir / "results.json").read_text())
    from dltrain.train.recipe import fit

    return fit(plain, run_dir)
