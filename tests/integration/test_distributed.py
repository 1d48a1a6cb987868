"""DDP on CPU with gloo, 2 processes: real torchrun launches, each wrapped in a timeout."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tests.helpers.cli import TINY_MLP, dltrain, read_jsonl

# An MLP without dropout on synthetic data: with the same global batch and seed, the data order
# (randperm(seed + epoch), rank r takes every 2nd index) and the averaged gradients are the same
# as one process, so the weights must match up to float rounding.
SMALL = [
    *TINY_MLP,
    "trainer.max_epochs=2",
    "deterministic=true",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


def _epochs(run: Path) -> list[dict]:
    return [e for e in read_jsonl(run / "metrics.jsonl") if "val/loss" in e]


@pytest.mark.slow
def test_ddp_matches_one_process_with_the_same_global_batch(tmp_path: Path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    extras = "metrics=[f1_macro,auroc]"  # torchmetrics: synced over the ranks when computed
    one = dltrain("train", *SMALL, extras, "data.batch_size=64", f"hydra.run.dir={single}")
    assert one.returncode == 0, one.stderr
    two = dltrain(
        "train",
        *SMALL,
        extras,
        "data.batch_size=32",
        "distributed=ddp",
        "distributed.nproc_per_node=2",
        f"hydra.run.dir={ddp}",
    )
    assert two.returncode == 0, two.stderr + two.stdout
    a, b = _weights(single), _weights(ddp)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    ra = json.loads((single / "results.json").read_text())
    rb = json.loads((ddp / "results.json").read_text())
    assert rb["val/accuracy"] == pytest.approx(ra["val/accuracy"])
    assert rb["test/loss"] == pytest.approx(ra["test/loss"], rel=1e-5)
    for key in ("val/f1_macro", "test/f1_macro", "test/auroc"):  # global values, not rank 0's
        assert rb[key] == pytest.approx(ra[key], rel=1e-5), key
    first_a, first_b = (_epochs(run)[0] for run in (single, ddp))  # not yet perfect: telling
    assert first_a["train/f1_macro"] < 1.0
    assert first_b["train/f1_macro"] == pytest.approx(first_a["train/f1_macro"], rel=1e-5)
    assert "32 x 2 process(es) = 64 global" in (ddp / "train.log").read_text()
    assert sorted(p.name for p in ddp.iterdir()) == [
        "checkpoints",
        "config.yaml",
        "metrics.jsonl",
        "results.json",
        "train.log",
    ]
    assert [e["epoch"] for e in read_jsonl(ddp / "metrics.jsonl") if "val/loss" in e] == [1, 2]


@pytest.mark.slow
def test_two_nodes_on_one_machine_share_one_run_folder(tmp_path: Path):
    run = tmp_path / "run"
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    commands = [
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nnodes=2",
            f"--node-rank={rank}",
            "--nproc-per-node=1",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint=127.0.0.1:{port}",
            "--rdzv-id=two-nodes",
            "-m",
            "dltrain",
            "train",
            *SMALL,
            "data.batch_size=32",
            "distributed.threads_per_process=1",
            "seed=null",  # chosen once, by rank 0: every rank trains with it
            f"hydra.run.dir={run}",
        ]
        for rank in (0, 1)
    ]
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for c in commands
    ]
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=180)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("two-node torchrun did not finish in 180 s")
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outputs)
    assert (run / "results.json").is_file()
    seed = OmegaConf.load(run / "config.yaml").seed
    assert f"seed {seed}; data" in (run / "train.log").read_text()
    assert "32 x 2 process(es) = 64 global" in (run / "train.log").read_text()
    assert len(list(tmp_path.iterdir())) == 1, "one run folder for both nodes"


KILLER = textwrap.dedent("""
    import os, signal
    from pathlib import Path
    from dltrain.models.classic import MLP
    from dltrain.registry import MODELS

    @MODELS.register("fragile_mlp")
    class FragileMLP(MLP):
        '''Rank 1 kills itself at its 20th forward call, once (a marker file remembers).'''
        calls = 0

        def forward(self, x):
            FragileMLP.calls += 1
            marker = Path(os.environ["KILL_MARKER"])
            if os.environ.get("RANK") == "1" and FragileMLP.calls == 20 and not marker.exists():
                marker.write_text("killed")
                os.kill(os.getpid(), signal.SIGKILL)
            return super().forward(x)
""")


@pytest.fixture
def fragile(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    (tmp_path / "fragile.py").write_text(KILLER)
    configs = tmp_path / "configs" / "model"
    configs.mkdir(parents=True)
    (configs / "fragile.yaml").write_text(
        "name: fragile_mlp\nin_features: ${prod:${data.shape}}\nhidden: [32]\n"
        "num_classes: ${data.num_classes}\ndropout: 0.0\n"
    )
    args = [
        "train",
        *SMALL,
        "model=fragile",
        "imports=[fragile]",
        "data.batch_size=32",
        "trainer.max_epochs=3",
        f"hydra.searchpath=[file://{tmp_path / 'configs'}]",
        "distributed=ddp",
        "distributed.nproc_per_node=2",
    ]
    env = {"PYTHONPATH": str(tmp_path), "KILL_MARKER": str(tmp_path / "killed")}
    return args, env


def test_a_killed_rank_fails_the_job_and_names_it(tmp_path: Path, fragile):
    args, env = fragile
    started = time.monotonic()
    result = dltrain(*args, f"hydra.run.dir={tmp_path / 'run'}", env=env, timeout=120)
    assert result.returncode == 1
    assert "rank 1" in result.stderr and "SIGKILL" in result.stderr
    assert time.monotonic() - started < 60


@pytest.mark.slow
def test_max_restarts_resumes_in_the_same_folder(tmp_path: Path, fragile):
    args, env = fragile
    run = tmp_path / "run"
    result = dltrain(
        *args, "distributed.max_restarts=1", f"hydra.run.dir={run}", env=env, timeout=180
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "killed").exists(), "the worker was killed once"
    assert "resumed from" in (run / "train.log").read_text()
    epochs = [e["epoch"] for e in read_jsonl(run / "metrics.jsonl") if "val/loss" in e]
    assert epochs == [1, 2, 3]


def test_multirun_under_an_external_torchrun_is_refused(tmp_path: Path):
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dltrain",
            "train",
            "-m",
            "optimizer.lr=1e-3,1e-2",
            f"hydra.sweep.dir={tmp_path}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot run under an external torchrun" in result.stderr


@pytest.mark.slow
def test_multirun_with_ddp_launches_each_job(tmp_path: Path):
    sweep = tmp_path / "sweep"
    result = dltrain(
        "train",
        "-m",
        *SMALL,
        "trainer.max_epochs=1",
        "data.batch_size=32",
        "optimizer.lr=1e-3,2e-3",
        "distributed=ddp",
        "distributed.nproc_per_node=2",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr
    for job in ("0", "1"):
        assert (sweep / job / "results.json").is_file()
    lrs = {json.loads((sweep / j / "results.json").read_text())["epoch"] for j in ("0", "1")}
    assert lrs == {1}


@pytest.mark.slow
def test_bf16_on_cpu_learns_like_fp32(fmnist_root: Path, tmp_path: Path):
    scores = {}
    for precision in ("fp32", "bf16"):
        run = tmp_path / precision
        result = dltrain(
            "train",
            f"data.root={fmnist_root}",
            "data.download=false",
            "data.batch_size=64",
            "trainer.max_epochs=2",
            f"precision={precision}",
            f"hydra.run.dir={run}",
        )
        assert result.returncode == 0, result.stderr
        scores[precision] = json.loads((run / "results.json").read_text())["test/accuracy"]
    assert scores["bf16"] > 0.3
    assert abs(scores["bf16"] - scores["fp32"]) < 0.15
