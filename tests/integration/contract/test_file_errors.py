"""File-system errors: a read-only run folder or parent, a file where the folder should be
(exit 2 before anything is written), and a disk that fills up while a checkpoint is saved
(exit 1, the previous checkpoint kept).

The tests run as root, which ignores permission bits, so "read-only" is made real: a read-only
bind mount in a private mount namespace (EROFS, for that one command), or an immutable folder
(``chattr +i``: EPERM even for root). A full disk is a tiny tmpfs in a private namespace
(ENOSPC), or a file-size limit (RLIMIT_FSIZE: EFBIG, no privileges needed).
"""

from __future__ import annotations

import os
import resource
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import dltrain, dltrain_in_process, fast_train_args
from tests.helpers.contract import assert_refused, tree_state
from tests.helpers.run_folder import (
    TINY,
    copy_run,
    dltrain_with_mount,
    finished_run,
    private_mounts_work,
)

needs_mounts = pytest.mark.skipif(
    not private_mounts_work(), reason="mounting in a private namespace is not permitted here"
)


def _read_only_bind(folder: Path) -> str:
    quoted = shlex.quote(str(folder))
    return f"mount --bind {quoted} {quoted}\nmount -o remount,bind,ro {quoted}"


@pytest.fixture
def immutable(tmp_path: Path):
    """Make folders immutable (chattr +i) for the test; undone afterwards so pytest can clean."""
    made: list[Path] = []

    def make(folder: Path) -> None:
        result = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"chattr +i is not possible here: {result.stderr.strip()}")
        made.append(folder)

    yield make
    for folder in made:
        subprocess.run(["chattr", "-i", str(folder)], check=False)


@needs_mounts
@pytest.mark.parametrize(
    "existing",
    [pytest.param(True, id="existing-run", marks=pytest.mark.slow), pytest.param(False, id="new")],
)
def test_a_read_only_folder_is_refused_before_anything_is_written(
    existing: bool, fmnist_root: Path, tmp_path_factory, tmp_path: Path
):
    parent = tmp_path / "ro"
    parent.mkdir()
    run = parent / "run"
    if existing:
        copy_run(finished_run(fmnist_root, tmp_path_factory), run)
    before = tree_state(parent)
    args = fast_train_args(fmnist_root, run, *TINY, "trainer.max_epochs=2")
    result = dltrain_with_mount(_read_only_bind(parent), *args)
    if existing:
        assert_refused(result, f"cannot write in the run folder {run}", "read-only file system")
        assert "Make it writable, or choose another hydra.run.dir" in result.stderr
    else:
        assert_refused(result, f"cannot create the run folder {run}", "Read-only file system")
        assert f"Make {parent} writable, or choose a hydra.run.dir" in result.stderr
    assert tree_state(parent) == before


@pytest.mark.parametrize("existing", [True, False], ids=["existing-folder", "new-folder"])
def test_an_immutable_folder_is_refused(
    existing: bool, fmnist_root: Path, tmp_path: Path, immutable
):
    parent = tmp_path / "locked"
    run = parent / "run"
    (run if existing else parent).mkdir(parents=True)
    immutable(run if existing else parent)
    before = tree_state(parent)
    launch = dltrain if existing else dltrain_in_process  # one real process, one in this one
    result = launch(*fast_train_args(fmnist_root, run, *TINY))
    if existing:
        assert_refused(result, f"cannot write in the run folder {run} (permission denied)")
    else:
        assert_refused(result, f"cannot create the run folder {run}", "Operation not permitted")
    assert tree_state(parent) == before


@pytest.mark.parametrize("where", ["folder", "parent"])
def test_a_file_where_the_run_folder_goes_is_refused(where: str, fmnist_root: Path, tmp_path: Path):
    a_file = tmp_path / "results.csv"
    a_file.write_text("epoch,accuracy\n1,0.5\n")
    run = a_file if where == "folder" else a_file / "run"
    before = tree_state(tmp_path)
    launch = dltrain if where == "folder" else dltrain_in_process  # one real process
    result = launch(*fast_train_args(fmnist_root, run, *TINY))
    phrase = "is a file, not a folder"
    assert_refused(result, str(a_file), phrase, "Choose another hydra.run.dir")
    assert tree_state(tmp_path) == before


def _limit_file_size(limit: int):
    def preexec() -> None:  # Python ignores SIGXFSZ, so an over-long write fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return preexec


def _assert_save_failed_and_kept(result, run: Path, kept: Path, previous: dict | None) -> None:
    """Exit 1 naming RUN/checkpoints/last.pt; ``kept`` (the checkpoints after the command)
    holds last.pt and best.pt as they were, and no temporary file."""
    assert_refused(
        result,
        f"could not save {run / 'checkpoints' / 'last.pt'}",
        "the previous last.pt is kept unchanged",
        "run the same command again",
        exit_code=1,
    )
    assert tree_state(kept) == previous


@pytest.mark.slow
def test_a_file_size_limit_while_saving_keeps_the_previous_checkpoint(
    fmnist_root: Path, tmp_path_factory, tmp_path: Path
):
    run = copy_run(finished_run(fmnist_root, tmp_path_factory), tmp_path / "run")
    previous = tree_state(run / "checkpoints")
    args = fast_train_args(fmnist_root, run, *TINY, "trainer.max_epochs=2")
    result = subprocess.run(
        [sys.executable, "-m", "dltrain", *args, "checkpoint.every_n_steps=2"],
        preexec_fn=_limit_file_size(50_000),  # checkpoints are ~110 KB, the logs far smaller
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "File too large" in result.stderr
    _assert_save_failed_and_kept(result, run, run / "checkpoints", previous)


@needs_mounts
@pytest.mark.slow
def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(
    fmnist_root: Path, tmp_path_factory, tmp_path: Path
):
    """The run folder on a 320 KB tmpfs: the finished run (~240 KB) fits, the next last.pt
    (~110 KB more, written beside the old one) does not."""
    source = finished_run(fmnist_root, tmp_path_factory)
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    run = disk / "run"
    q = {name: shlex.quote(str(path)) for name, path in (("disk", disk), ("run", run))}
    fill = (
        f"mount -t tmpfs -o size=320k tmpfs {q['disk']}\n"
        f"cp -a {shlex.quote(str(source))} {q['run']}"
    )
    copy_out = f"cp -a {q['run']} {shlex.quote(str(out))}"
    args = fast_train_args(fmnist_root, run, *TINY, "trainer.max_epochs=2")
    result = dltrain_with_mount(fill, *args, "checkpoint.every_n_steps=2", after=copy_out)
    assert "No space left on device" in result.stderr
    previous = tree_state(source / "checkpoints")
    _assert_save_failed_and_kept(result, run, out / "checkpoints", previous)


@needs_mounts
@pytest.mark.slow
def test_a_full_disk_while_logging_ends_the_run_with_a_message(tmp_path: Path):
    """The run folder on a 64 KB tmpfs and a metrics line every step: the logs fill the disk
    before the first checkpoint, and that is exit 1 with a message, not logging's tracebacks."""
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    run = disk / "run"
    mount = f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(disk))}"
    copy_out = f"cp -a {shlex.quote(str(run))} {shlex.quote(str(out))}"
    args = [
        "train", "data=synthetic", "model=mlp", "model.hidden=[2]", "data.train_size=4096",
        "data.batch_size=8", "logging.every_n_steps=1", "trainer.max_epochs=1",
        f"hydra.run.dir={run}",
    ]  # fmt: skip
    result = dltrain_with_mount(mount, *args, after=copy_out)
    assert_refused(
        result, "a write to the run folder failed: No space left on device", "free space",
        "run the same command again", exit_code=1,
    )  # fmt: skip
    assert "Logging error" not in result.stderr
    assert (out / "config.yaml").is_file() and not (out / "checkpoints" / "last.pt").exists()
