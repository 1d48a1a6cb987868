"""A real `dltrain` subprocess as a user runs it, the same entry point in this process, a tiny
training run's arguments, JSONL files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

TIMEOUT = 300
# An MLP without dropout or BatchNorm on 640 synthetic samples (512 train): the distributed
# tests' run, where the same seed and global batch give one process's weights up to rounding.
TINY_MLP = [
    "data=synthetic",
    "model=mlp",
    "model.hidden=[32]",
    "data.train_size=640",
    "data.val_split=0.2",
]


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


def dltrain_in_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`dltrain ARGS` through dltrain's own entry point (``dltrain.cli.main``) in this process:
    its exit code, stdout and stderr as a subprocess would give them.

    For refusals that preflight finds before any folder exists: a case table of them costs
    one torch import per case as subprocesses (3-6 s each), here none. Each file that uses it
    also runs one of its cases with ``dltrain`` (a real process), which checks what only a
    process shows (its exit status, nothing printed at interpreter exit).
    """
    from dltrain.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with (
        contextlib.chdir(cwd or Path.cwd()),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            main(list(args))
        except SystemExit as exit_:
            code = exit_.code
    if isinstance(code, str):  # sys.exit("message"): Python prints it and exits 1
        stderr.write(code + "\n")
        code = 1
    return subprocess.CompletedProcess(
        ["dltrain", *args], code or 0, stdout.getvalue(), stderr.getvalue()
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
