"""data=webdataset in real runs: two gloo ranks read disjoint samples that cover the epoch, and
a run SIGKILLed mid-epoch resumes to a result bitwise equal to the uninterrupted run.

The shards are the fake FashionMNIST files written by ``dltrain shard`` (4 shards of 150).
"""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

from dltrain.testing.compare import run_differences
from tests.helpers.cli import dltrain
from tests.integration.test_resume import KILLER

# Every training sample a process decodes, as "<rank> <shard file>:<tar position>".
SAMPLE_LOG = textwrap.dedent("""
    import os

    from dltrain.data.streaming import batches

    original = batches.ShardDataset.example

    def logged(self, shard, index, cache):
        if self.part == "train":
            with open(os.path.join(os.environ["SAMPLE_LOG"], f"{os.getpid()}.txt"), "a") as f:
                f.write(f"{os.environ.get('RANK', '0')} "
                        f"{self.source.paths[shard].name}:{self.kept(shard)[index]}\\n")
        return original(self, shard, index, cache)

    batches.ShardDataset.example = logged
""")


@pytest.fixture(scope="module")
def shards(fmnist_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("streaming") / "shards"
    result = dltrain("shard", str(fmnist_root / "FashionMNIST" / "raw"), str(out),
                     "shard_size=150")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hooks")
    (folder / "chaos_killer.py").write_text(KILLER)
    (folder / "sample_log.py").write_text(SAMPLE_LOG)
    return folder


def _args(shards: Path, run: Path, *extra: str) -> list[str]:
    """fast_train_args' tiny run (2 epochs of 540 images, batch 64) on the shards."""
    return [
        "train", "data=webdataset", f"data.root={shards}", "data.num_workers=2",
        "data.batch_size=64", "trainer.max_epochs=2", "logging.every_n_steps=4",
        "deterministic=true", f"hydra.run.dir={run}", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_two_gloo_ranks_read_disjoint_samples_that_cover_the_epoch(
    fmnist_root, shards, hooks, tmp_path
):
    logs = tmp_path / "samples"
    logs.mkdir()
    args = _args(
        shards, tmp_path / "run", "trainer.max_epochs=1", "imports=[sample_log]",
        "distributed=ddp", "distributed.nproc_per_node=2", "data.batch_size=32",
    )  # fmt: skip
    env = {"PYTHONPATH": str(hooks), "SAMPLE_LOG": str(logs), "OMP_NUM_THREADS": "1"}
    result = dltrain(*args, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    by_rank: dict[str, list[str]] = {}
    for line in "".join(p.read_text() for p in logs.glob("*.txt")).splitlines():
        rank, sample = line.split()
        by_rank.setdefault(rank, []).append(sample)
    assert sorted(by_rank) == ["0", "1"]
    zero, one = by_rank["0"], by_rank["1"]
    assert len(zero) == len(one) == 270 and len(set(zero)) == 270  # 540 training samples
    assert not set(zero) & set(one)  # disjoint, so together all 540: the epoch, once


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bitwise_equal(fmnist_root, shards, hooks, tmp_path):
    extra = ("checkpoint.every_n_steps=4", "imports=[chaos_killer]", "trainer.max_epochs=1")
    env = {"PYTHONPATH": str(hooks), "KILL_MARKER": str(tmp_path)}
    reference = tmp_path / "reference"
    result = dltrain(*_args(shards, reference, *extra), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    args = _args(shards, run, *extra)
    # forward 1 is preflight's probe; 8 is batch 7 of 9, after the checkpoint of step 4
    killed = dltrain(*args, env={**env, "KILL_AT": "forward:8"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    result = dltrain(*args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed from" in (run / "train.log").read_text()
    assert "at epoch 1, batch 4 (step 4)" in (run / "train.log").read_text()  # mid-epoch
    assert run_differences(reference, run) == []
