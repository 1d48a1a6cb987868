"""Process groups, torchrun launches, the worker entry point, device choice.

This module stays torch-free: ``dltrain train`` asks ``under_torchrun`` before deciding
whether it needs torch at all.
"""

from __future__ import annotations

import os

# Set by dltrain's launch (torchrun.py) on each node of a multi-node run: that node's
# distributed.node_rank, so its workers take their ranks in node order (context.py).
NODE_RANK_ENV = "DLTRAIN_NODE_RANK"


def under_torchrun() -> bool:
    """Whether torchrun started this process (its environment names a rank and world size)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


LAUNCHED_BY_TORCHRUN = ("ddp", "fsdp")  # distributed.name values whose processes torchrun starts


def launches_workers(name: str) -> bool:
    """Whether ``distributed=<name>`` runs as torchrun workers (ddp, fsdp) rather than here."""
    return name in LAUNCHED_BY_TORCHRUN
