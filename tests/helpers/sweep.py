"""Tiny sweeps as real `dltrain train -m` subprocesses on synthetic data (a few seconds a job)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helpers.cli import dltrain

SWEEP_TIMEOUT = 180
TINY = [
    "data=synthetic",
    "data.train_size=160",
    "data.test_size=32",
    "data.batch_size=32",
    "trainer.max_epochs=1",
    "logging.progress=off",
]


def sweep(sweep_dir: Path, *args: str, multirun: bool = True) -> subprocess.CompletedProcess:
    """`dltrain train [-m] TINY ARGS hydra.sweep.dir=SWEEP_DIR`, wrapped in a timeout, run
    outside the repository (so Hydra finds dltrain's plugins as an installed user would)."""
    flag = ["-m"] if multirun else []
    return dltrain(
        "train",
        *flag,
        *TINY,
        *args,
        f"hydra.sweep.dir={sweep_dir}",
        cwd=sweep_dir.parent,
        timeout=SWEEP_TIMEOUT,
    )


def job(sweep_dir: Path, num: int) -> dict:
    return json.loads((sweep_dir / str(num) / "job.json").read_text())
