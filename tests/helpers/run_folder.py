"""Run folders for the contract tests: a finished tiny run to copy, a lock held by the test
itself, and commands run where a folder is read-only or the disk is small (a private mount
namespace, so nothing is mounted outside the one command)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.cli import TIMEOUT, dltrain, fast_train_args

LOCK_NAME = ".dltrain.lock"
# A one-epoch softmax regression on the fake FashionMNIST: a checkpoint of about 110 KB.
TINY = ("model=softmax_regression", "trainer.max_epochs=1")

_FINISHED: dict[Path, Path] = {}


def finished_run(fmnist_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished TINY run (made once per session); copy it with ``copy_run`` before use."""
    if fmnist_root not in _FINISHED:
        run = tmp_path_factory.mktemp("finished") / "run"
        result = dltrain(*fast_train_args(fmnist_root, run, *TINY))
        assert result.returncode == 0, result.stderr
        _FINISHED[fmnist_root] = run
    return _FINISHED[fmnist_root]


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


@contextmanager
def lock_held(folder: Path) -> Iterator[int]:
    """Hold ``folder``'s run lock from this process, as a running dltrain would; its pid."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield os.getpid()
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def with_path(*folders: Path) -> dict[str, str]:
    """An environment whose PYTHONPATH adds ``folders`` to the one the tests run with."""
    parts = [str(f) for f in folders] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    return {"PYTHONPATH": os.pathsep.join(parts)}


def private_mounts_work() -> bool:
    """Whether this process may mount in a private mount namespace (root or CAP_SYS_ADMIN)."""
    try:
        probe = subprocess.run(
            ["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def dltrain_with_mount(
    before: str, *args: str, after: str = "", env: dict | None = None
) -> subprocess.CompletedProcess:
    """`python -m dltrain ARGS` in a private mount namespace: the shell commands ``before``
    mount (and fill) folders, ``after`` copies results out; the mounts end with the command."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    script = f'set -e\n{before}\nset +e\n"$@"\nrc=$?\n{after}\nexit $rc'
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", sys.executable, "-m", "dltrain", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
