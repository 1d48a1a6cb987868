"""The bad-input contract as assertions: exit code, a message that names the problem and the
fix, no traceback, and a folder that is byte-for-byte what it was before."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from tests.helpers.cli import dltrain, dltrain_in_process, fast_train_args


def tree_state(root: Path) -> dict[str, str] | None:
    """Every file under ``root`` (relative path -> sha256); None when ``root`` does not exist."""
    if not root.exists():
        return None
    if root.is_file():
        return {".": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        if path.is_file()
        else "dir"
        for path in sorted(root.rglob("*"))
    }


def assert_refused(result: subprocess.CompletedProcess, *phrases: str, exit_code: int = 2) -> None:
    """The command failed with ``exit_code``, its stderr holds every phrase, and no traceback."""
    output = result.stderr + result.stdout
    assert result.returncode == exit_code, (result.returncode, output[-3000:])
    assert "Traceback" not in output, output[-3000:]
    for phrase in phrases:
        assert phrase in output, (phrase, output[-3000:])


def assert_train_refused(
    fmnist_root: Path,
    tmp_path: Path,
    overrides: list[str],
    phrases: list[str],
    *,
    own_process: bool = False,
) -> None:
    """A tiny `dltrain train` with ``overrides`` (run folder ``tmp_path/run``) is exit 2 with
    every phrase, and ``tmp_path`` is byte for byte as it was: no run folder, nothing else.

    In this process through dltrain's entry point (``dltrain_in_process``), or with
    ``own_process`` as a real subprocess."""
    run = tmp_path / "run"
    before = tree_state(tmp_path)
    launch = dltrain if own_process else dltrain_in_process
    result = launch(*fast_train_args(fmnist_root, run, *overrides), cwd=tmp_path)
    assert_refused(result, *phrases)
    assert not run.exists()
    assert tree_state(tmp_path) == before
