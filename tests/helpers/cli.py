"""A real `dltrain` subprocess as a user runs it, a tiny training run's arguments, JSONL files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TIMEOUT = 300


def dltrain(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess:
    """Run `python -m dltrain ARGS` as a user would, with one thread and no colour."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "dltrain", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def fast_train_args(fmnist_root: Path, run_dir: Path, *extra: str) -> list[str]:
    """A tiny FashionMNIST CNN run on the fake data: 2 epochs of 540 images."""
    return [
        "train",
        f"data.root={fmnist_root}",
        "data.download=false",
        "data.batch_size=64",
        "trainer.max_epochs=2",
        "logging.every_n_steps=4",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]
