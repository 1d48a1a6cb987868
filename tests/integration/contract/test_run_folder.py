"""One run per folder: a busy folder, a foreign one, the current folder, what a dead attempt
left. Every refusal is exit 2 naming the folder and the fix, no traceback, nothing changed.

The tables of refused folders run one case each as a real process and the others through
dltrain's entry point in the test process (``dltrain_in_process``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from tests.helpers.cli import dltrain, dltrain_in_process, fast_train_args, read_jsonl
from tests.helpers.contract import assert_refused, tree_state
from tests.helpers.run_folder import (
    LOCK_NAME,
    TINY,
    copy_run,
    finished_run,
    lock_held,
    with_path,
)

GATE = textwrap.dedent("""
    '''Hold every process of the run at its first forward call until $GATE/open exists
    ($GATE/waiting-PID says it got there), so a test can act while the run is mid-way.'''
    import os, time
    from pathlib import Path
    import torch

    gate, held = Path(os.environ["GATE"]), []

    def wait(module, args):
        if held or any(isinstance(a, torch.Tensor) and a.is_meta for a in args):
            return  # a dry build's forward on the meta device is no training step
        if isinstance(module, torch.nn.modules.loss._Loss):
            return  # nor is its loss on a few zeros (the first training step runs the model)
        held.append(True)
        (gate / f"waiting-{os.getpid()}").write_text("")
        deadline = time.monotonic() + 120
        while not (gate / "open").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    torch.nn.modules.module.register_module_forward_pre_hook(wait)
""")


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    folder = tmp_path / "gate"
    folder.mkdir()
    (folder / "run_gate.py").write_text(GATE)
    return folder


def _start_gated(args: list[str], gate: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GATE": str(gate), **with_path(gate)}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "dltrain", *args, "imports=[run_gate]"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the first run ended early: {proc.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the first run did not reach its first step in time")
        time.sleep(0.05)


def _second_run_is_refused_while_the_first_runs(
    first_args: list[str], second_args: list[str], run: Path, gate: Path
) -> None:
    first = _start_gated(first_args, gate)
    try:
        _wait_for(lambda: any(gate.glob("waiting-*")), first)
        assert (run / LOCK_NAME).read_text().strip() == str(first.pid)
        before = tree_state(run)
        second = dltrain(*second_args)
        assert_refused(
            second, f"{run} is in use by pid {first.pid}", "choose another hydra.run.dir"
        )
        assert tree_state(run) == before
    finally:
        (gate / "open").write_text("")
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]
    assert not (run / LOCK_NAME).exists()


@pytest.mark.slow
def test_a_second_run_on_a_busy_folder_is_refused(fmnist_root: Path, tmp_path: Path, gate: Path):
    run = tmp_path / "run"
    first = fast_train_args(fmnist_root, run, *TINY)
    second = fast_train_args(fmnist_root, run, "model=lenet", "trainer.max_epochs=3")
    _second_run_is_refused_while_the_first_runs(first, second, run, gate)
    config = (run / "config.yaml").read_text()
    assert "softmax_regression" in config and "lenet" not in config
    assert [e["epoch"] for e in read_jsonl(run / "metrics.jsonl") if "val/loss" in e] == [1]


@pytest.mark.slow
def test_the_lock_is_held_while_torchrun_workers_run(fmnist_root: Path, tmp_path: Path, gate: Path):
    run = tmp_path / "run"
    first = fast_train_args(
        fmnist_root, run, *TINY, "distributed=ddp", "distributed.nproc_per_node=2",
        "distributed.threads_per_process=1",
    )  # fmt: skip
    _second_run_is_refused_while_the_first_runs(first, fast_train_args(fmnist_root, run), run, gate)
    assert len(list(gate.glob("waiting-*"))) == 2  # both workers were running meanwhile
    assert (run / "results.json").is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_rank_0_of_an_external_torchrun_takes_the_lock(fmnist_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    env = {
        "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
    }  # fmt: skip
    with lock_held(run) as pid:
        before = tree_state(run)
        result = dltrain(*fast_train_args(fmnist_root, run, *TINY), env=env, timeout=120)
        assert_refused(result, f"is in use by pid {pid}", "choose another hydra.run.dir")
        assert tree_state(run) == before


def test_a_busy_sweep_folder_is_refused(fmnist_root: Path, tmp_path: Path):
    sweep = tmp_path / "sweep"
    args = fast_train_args(fmnist_root, tmp_path / "unused", *TINY)
    with lock_held(sweep) as pid:
        before = tree_state(sweep)
        result = dltrain(*args, "-m", "optimizer.lr=1e-3,1e-2", f"hydra.sweep.dir={sweep}")
        assert_refused(result, f"{sweep} is in use by pid {pid}", "choose another hydra.sweep.dir")
        assert tree_state(sweep) == before


FOREIGN = {
    "another tool's run": {
        "config.yaml": "trainer: {max_epochs: 3}\nmodel: {class_path: Net}\n",
        "checkpoints/best.pt": "not ours",
    },
    "notes": {"notes.txt": "keep me"},
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
@pytest.mark.parametrize("sweep", [False, True], ids=["run", "sweep"])
def test_a_folder_of_other_files_is_refused(
    kind: str, sweep: bool, fmnist_root: Path, tmp_path: Path
):
    # one case as a real process, the others through dltrain's entry point in this process
    launch = dltrain if (kind, sweep) == ("notes", False) else dltrain_in_process
    folder = tmp_path / "folder"
    for name, text in FOREIGN[kind].items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    before = tree_state(folder)
    key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
    extra = ["-m", "optimizer.lr=1e-3,1e-2", f"{key}={folder}"] if sweep else []
    run = tmp_path / "unused" if sweep else folder
    result = launch(*fast_train_args(fmnist_root, run, *TINY), *extra)
    assert_refused(result, f"{folder} is not empty", f"Choose a new or empty {key}")
    assert tree_state(folder) == before
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize(
    ("override", "phrase"),
    [
        ("hydra.run.dir=", "the current folder"),
        ("hydra.run.dir=''", "the current folder"),
        ("hydra.run.dir=.", "the current folder"),
        ("hydra.run.dir=..", "the current folder or one above it"),
        ("hydra.sweep.dir=", "the current folder"),
    ],
)
def test_the_current_folder_is_no_run_folder(
    override: str, phrase: str, fmnist_root: Path, tmp_path: Path
):
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "my_script.py").write_text("print('mine')\n")
    before, around = tree_state(cwd), tree_state(tmp_path)
    sweep = ["-m", "optimizer.lr=1e-3,1e-2"] if override.startswith("hydra.sweep") else []
    args = [a for a in fast_train_args(fmnist_root, cwd, *TINY) if "hydra.run.dir" not in a]
    # one case as a real process, the others through dltrain's entry point in this process
    launch = dltrain if override == "hydra.run.dir=." else dltrain_in_process
    result = launch(*args, *sweep, override, cwd=cwd)
    key = override.split("=")[0]
    assert_refused(result, phrase, "a folder of its own, e.g. " + key)
    assert tree_state(cwd) == before and tree_state(tmp_path) == around


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "phrases"),
    [
        ("model=lenet", ("different config", "model:", "Use another hydra.run.dir")),
        ("resume=OTHER", ("already holds a run", "Choose another hydra.run.dir")),
    ],
)
def test_a_refused_resume_changes_nothing(
    change: str, phrases: tuple, fmnist_root: Path, tmp_path_factory, tmp_path: Path
):
    """A changed model, or another run's checkpoint to continue in this run's folder."""
    finished = finished_run(fmnist_root, tmp_path_factory)
    run = copy_run(finished, tmp_path / "run")
    change = change.replace("OTHER", str(finished / "checkpoints" / "last.pt"))
    before = tree_state(run)
    result = dltrain(*fast_train_args(fmnist_root, run, *TINY, change))
    assert_refused(result, *phrases)
    assert tree_state(run) == before  # config.yaml too: the checks come before it is written


@pytest.mark.slow
def test_partial_saves_of_a_killed_run_are_removed(
    fmnist_root: Path, tmp_path_factory, tmp_path: Path
):
    run = copy_run(finished_run(fmnist_root, tmp_path_factory), tmp_path / "run")
    torn = run / "checkpoints" / ".last.pt.k1ll3d00.tmp"
    torn.write_bytes(b"PK\x03\x04 half a checkpoint")
    result = dltrain(*fast_train_args(fmnist_root, run, *TINY, "trainer.max_epochs=2"))
    assert result.returncode == 0, result.stderr
    assert "resumed from" in (run / "train.log").read_text()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]


@pytest.mark.slow
def test_a_fresh_run_drops_what_a_dead_attempt_left(
    fmnist_root: Path, tmp_path_factory, tmp_path: Path
):
    """An attempt killed before its first last.pt left config.yaml, metrics, a best.pt (killed
    between the best.pt and last.pt writes) and a step copy: the restart starts clean."""
    finished = finished_run(fmnist_root, tmp_path_factory)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_bytes((finished / "config.yaml").read_bytes())
    (run / "metrics.jsonl").write_text('{"epoch": 7, "step": 99, "train/loss": 9.9}\n')
    (run / "checkpoints" / "best.pt").write_bytes(b"a dead attempt's best")
    (run / "checkpoints" / "step-000000004.pt").write_bytes(b"a dead attempt's step copy")
    result = dltrain(*fast_train_args(fmnist_root, run, *TINY))
    assert result.returncode == 0, result.stderr
    assert "resumed from" not in (run / "train.log").read_text()
    assert read_jsonl(run / "metrics.jsonl")[0]["step"] == 4  # the first event is this run's
    assert len(read_jsonl(run / "metrics.jsonl")) == len(read_jsonl(finished / "metrics.jsonl"))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    torch.load(run / "checkpoints" / "best.pt", weights_only=True)


@pytest.mark.slow
def test_a_run_killed_while_holding_the_lock_does_not_block_the_next(
    fmnist_root: Path, tmp_path: Path, gate: Path
):
    run = tmp_path / "run"
    args = fast_train_args(fmnist_root, run, *TINY)
    first = _start_gated(args, gate)
    _wait_for(lambda: any(gate.glob("waiting-*")), first)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert (run / LOCK_NAME).exists()  # the file stays; the kernel dropped the lock
    result = dltrain(*args)
    assert result.returncode == 0, result.stderr
    assert not (run / LOCK_NAME).exists()
