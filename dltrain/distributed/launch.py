"""Run a frozen config: in this process, or as torchrun workers for distributed=ddp|fsdp."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dltrain.distributed import launches_workers


def run_frozen(plain: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Run a frozen config: in this process, or as torchrun workers for distributed=ddp|fsdp."""
    if launches_workers(plain["distributed"]["name"]):
        from dltrain.distributed.torchrun import launch_workers

        launch_workers(plain["distributed"], run_dir)
        return json.loads((run_dir / "results.json").read_text())
    from dltrain.train.recipe import fit

    return fit(plain, run_dir)
