"""distributed=fsdp (FSDP2) on CPU with gloo, 2 processes: real torchrun launches, each in a
timeout, OMP_NUM_THREADS=1 (tests/helpers/cli.py's dltrain).

One FSDP reference run (activation checkpointing on, a step checkpoint every 4 steps, one
epoch) serves every test: its losses against DDP's, the bitwise resume after a SIGKILL, the
resumes on 1 and 3 processes from its sharded last.dcp, and dltrain eval of its best.pt.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest
import torch

from dltrain.testing.compare import run_differences
from dltrain.train.sharded_checkpointer import read_sharded
from tests.helpers.cli import TINY_MLP, dltrain, dltrain_in_process, read_jsonl

# The MLP on synthetic data of tests/integration/test_distributed.py: no dropout or BatchNorm,
# so DDP and FSDP with the same seed and global batch train the same weights up to rounding.
SMALL = [
    *TINY_MLP,
    "data.batch_size=32",
    "trainer.max_epochs=1",
    "deterministic=true",
    "logging.every_n_steps=1",
    "distributed.nproc_per_node=2",
    "imports=[fsdp_killer]",
]
FSDP = [
    "distributed=fsdp",
    "distributed.fsdp.wrap=[Linear]",
    "trainer.activation_checkpointing=[Linear]",
    "checkpoint.every_n_steps=4",
]
TIMEOUT = 240

KILLER = textwrap.dedent("""
    '''Rank 1 kills itself with SIGKILL at its KILL_AT-th forward call, once (a marker file).
    fully_shard makes the model's class FSDPMLP, hence endswith.'''
    import os, signal
    from pathlib import Path
    import torch

    calls = [0]

    def maybe_kill(module, args):
        if not type(module).__name__.endswith("MLP") or os.environ.get("RANK") != "1":
            return
        calls[0] += 1
        marker = Path(os.environ.get("KILL_MARKER", "/nonexistent"))
        if calls[0] == int(os.environ.get("KILL_AT", 0)) and not marker.exists():
            marker.write_text("killed")
            os.kill(os.getpid(), signal.SIGKILL)

    torch.nn.modules.module.register_module_forward_pre_hook(maybe_kill)
""")


@pytest.fixture(scope="module")
def killer_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("fsdp_killer")
    (folder / "fsdp_killer.py").write_text(KILLER)
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}


def _train(run: Path, env: dict[str, str], *extra: str) -> None:
    result = dltrain("train", *SMALL, *extra, f"hydra.run.dir={run}", env=env, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, killer_env) -> dict[str, Path]:
    """One DDP run and one FSDP run of the same config."""
    root = tmp_path_factory.mktemp("fsdp_runs")
    _train(root / "ddp", killer_env, "distributed=ddp")
    _train(root / "fsdp", killer_env, *FSDP)
    return {"ddp": root / "ddp", "fsdp": root / "fsdp"}


def _losses(run: Path) -> list[float]:
    return [e["train/loss"] for e in read_jsonl(run / "metrics.jsonl") if "train/loss" in e]


@pytest.mark.slow
def test_fsdp_trains_like_ddp_and_writes_a_sharded_checkpoint(runs):
    ddp, fsdp = _losses(runs["ddp"]), _losses(runs["fsdp"])
    assert len(fsdp) == len(ddp) == 9  # 8 steps logged, then the epoch
    assert fsdp == pytest.approx(ddp, rel=1e-5)
    weights = torch.load(runs["ddp"] / "checkpoints" / "last.pt", weights_only=True)["model"]
    sharded = read_sharded(runs["fsdp"] / "checkpoints" / "last.dcp")
    for key, value in weights.items():
        assert torch.allclose(sharded["model"][key], value, atol=1e-6), key
    log = (runs["fsdp"] / "train.log").read_text()
    assert "fully_shard per block (Linear)" in log and "activation checkpointing" in log
    names = sorted(p.name for p in (runs["fsdp"] / "checkpoints").iterdir())
    assert names == ["best.pt", "last.dcp"]  # a step checkpoint's folder was published over


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bitwise_equal(runs, killer_env, tmp_path):
    run = tmp_path / "run"
    env = {**killer_env, "KILL_MARKER": str(tmp_path / "killed"), "KILL_AT": "7"}
    killed = dltrain("train", *SMALL, *FSDP, f"hydra.run.dir={run}", env=env, timeout=TIMEOUT)
    assert killed.returncode == 1, killed.stderr[-3000:]
    assert "rank 1" in killed.stderr and (tmp_path / "killed").exists()
    assert read_sharded(run / "checkpoints" / "last.dcp")["progress"]["step"] == 4
    _train(run, env, *FSDP)  # the same command again
    assert "resumed from" in (run / "train.log").read_text()
    assert run_differences(runs["fsdp"], run) == []


@pytest.mark.slow
def test_a_two_process_checkpoint_resumes_on_one_process(runs, killer_env, tmp_path):
    """On 3 the same holds (DCP reshards): checked by hand, left out of CI for its 70 s."""
    processes, run = 1, tmp_path / "run"
    shutil.copytree(runs["fsdp"], run)
    more = ("trainer.max_epochs=2", f"distributed.nproc_per_node={processes}")
    _train(run, killer_env, *FSDP, *more)
    log = (run / "train.log").read_text()
    assert "resumed from" in log and f"32 x {processes} process(es)" in log
    epochs = [e for e in read_jsonl(run / "metrics.jsonl") if "val/loss" in e]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[1]["train/loss"] < epochs[0]["train/loss"]  # it went on from the weights
    saved = read_sharded(run / "checkpoints" / "last.dcp")
    steps = 8 + -(-512 // (32 * processes))  # epoch 1 on 2 processes, epoch 2 on N
    assert saved["progress"]["step"] == steps and saved["world_size"] == processes
    assert int(saved["optimizer"]["state"]["net.1.weight"]["step"]) == steps


def test_best_pt_is_a_plain_state_dict_that_eval_reads(runs, killer_env, monkeypatch):
    monkeypatch.syspath_prepend(killer_env["PYTHONPATH"].split(os.pathsep)[0])  # its imports=
    best = torch.load(runs["fsdp"] / "checkpoints" / "best.pt", weights_only=True)
    assert sorted(best["model"]) == ["net.1.bias", "net.1.weight", "net.3.bias", "net.3.weight"]
    assert all(type(v) is torch.Tensor for v in best["model"].values())
    result = dltrain_in_process("eval", str(runs["fsdp"]))
    assert result.returncode == 0, result.stderr
    assert "test/accuracy" in result.stdout


def test_a_wrap_type_the_model_lacks_is_exit_2(tmp_path):
    run = tmp_path / "run"
    result = dltrain_in_process(
        "train", "data=synthetic", "model=mlp", "distributed=fsdp",
        "distributed.fsdp.wrap=[Linear,Blok]", f"hydra.run.dir={run}",
    )  # fmt: skip
    assert result.returncode == 2
    assert "distributed.fsdp.wrap names ['Blok']" in result.stderr
    assert "Its module types: Sequential, Flatten, Linear, ReLU" in result.stderr
    assert "Traceback" not in result.stderr and not run.exists()
