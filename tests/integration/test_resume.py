"""Kill a run anywhere, run the same command again: the result equals an uninterrupted run.

Runs are on CPU with deterministic=true. Kills come from inside the process (a module named in
``imports=[...]``), so they land at exact points: mid-epoch, and in the middle of writing a
checkpoint. Timing fields of metrics.jsonl (images_per_sec, epoch_seconds) are the only
values allowed to differ. The runs with 2 loader workers also have callbacks=[ema,
early_stopping], so the callbacks' states go through the kills too (early stopping ends that
run at epoch 2 only if the best value of epoch 1 survived the resume).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from dltrain.testing.compare import run_differences
from tests.helpers.cli import dltrain, fast_train_args, read_jsonl

KILLER = textwrap.dedent("""
    '''Kill this process with SIGKILL at the N-th forward call or the N-th checkpoint write.

    KILL_AT="forward:12" or "save:3"; a marker file makes each kill happen once.'''
    import os, signal
    from pathlib import Path
    import torch
    from dltrain.train import checkpoint as ckpt

    kind, _, count = os.environ.get("KILL_AT", ":0").partition(":")
    marker = Path(os.environ.get("KILL_MARKER", "/nonexistent")) / f"{kind}-{count}"
    calls = {"forward": 0, "save": 0}

    def maybe_kill(what):
        calls[what] += 1
        if what == kind and calls[what] == int(count) and not marker.exists():
            marker.write_text("killed")
            os.kill(os.getpid(), signal.SIGKILL)

    original_save = torch.save

    def torn_save(obj, handle, *args, **kwargs):
        if kind == "save" and calls["save"] + 1 == int(count) and not marker.exists():
            handle.write(b"PK\\x03\\x04 half a checkpoint")  # a torn temporary file
            handle.flush()
        maybe_kill("save")
        return original_save(obj, handle, *args, **kwargs)

    ckpt.torch.save = torn_save
    hook = torch.nn.modules.module.register_module_forward_pre_hook
    hook(lambda module, args: maybe_kill("forward") if module.__class__.__name__ == "FashionCNN"
         else None)
""")


@pytest.fixture(scope="module")
def killer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("killer")
    (folder / "chaos_killer.py").write_text(KILLER)
    return folder


# The runs with 0 loader workers also compute extra metrics (metrics=[...]): their train states
# (torchmetrics counts, AUROC's kept probabilities) go through the mid-epoch kills as well.
EXTRA_METRICS = {0: ["metrics=[f1_macro,auroc,accuracy_per_class,top3_accuracy]"], 2: []}
CALLBACKS = {
    0: (),
    2: (
        "callbacks=[ema,early_stopping]",
        "callbacks.early_stopping.patience=1",
        "callbacks.early_stopping.min_delta=100",
    ),
}  # the callbacks of the runs with 0 and 2 loader workers


def _args(fmnist_root: Path, run: Path, workers: int, *extra: str) -> list[str]:
    return fast_train_args(
        fmnist_root, run, "deterministic=true", "checkpoint.every_n_steps=4",
        f"data.num_workers={workers}", "imports=[chaos_killer]", *EXTRA_METRICS[workers],
        *CALLBACKS[workers], *extra,
    )  # fmt: skip


# the in-memory path with per-sample batch augmentation and mixing (timm's strong recipe)
STRONG = (
    "data.train_transforms=[{name: rand_augment},{name: mixup},{name: cutmix},"
    "{name: random_erasing}]"
)
# the strong recipe's run carries the callbacks too: EMA and early stopping through the kills
REFERENCES = {0: (0,), 2: (2,), "augment": (0, STRONG, *CALLBACKS[2])}


def _assert_same_run(a: Path, b: Path) -> None:
    assert run_differences(a, b) == []


@pytest.fixture(scope="module")
def reference(fmnist_root: Path, killer: Path, tmp_path_factory: pytest.TempPathFactory):
    runs = {}
    for key, (workers, *extra) in REFERENCES.items():
        run = tmp_path_factory.mktemp("reference") / f"w{key}"
        args = _args(fmnist_root, run, workers, *extra)
        result = dltrain(*args, env={"PYTHONPATH": str(killer)})
        assert result.returncode == 0, result.stderr
        runs[key] = run
    return runs


@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "kills"),
    [
        (0, ["forward:7", "save:3", "forward:6"]),  # mid-epoch, in a checkpoint write, again
        (2, ["forward:11", "save:2"]),
        ("augment", ["forward:7"]),  # mid-epoch, between two step checkpoints
    ],
)
def test_sigkill_anywhere_then_resume_is_bitwise_equal(
    key, kills, fmnist_root, killer, reference, tmp_path
):
    run = tmp_path / "run"
    env = {"PYTHONPATH": str(killer), "KILL_MARKER": str(tmp_path)}
    args = _args(fmnist_root, run, *REFERENCES[key])
    for kill in kills:
        result = dltrain(*args, env={**env, "KILL_AT": kill})
        assert result.returncode == -signal.SIGKILL, (kill, result.stderr)
        assert (tmp_path / kill.replace(":", "-")).exists()
        last = run / "checkpoints" / "last.pt"
        if last.exists():  # whatever was written is a whole checkpoint
            torch.load(last, weights_only=True)
    result = dltrain(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "resumed from" in (run / "train.log").read_text()
    workers = REFERENCES[key][0]
    _assert_same_run(reference[key], run)
    if EXTRA_METRICS[workers]:  # compared with the rest of metrics.jsonl above
        assert "train/auroc" in read_jsonl(run / "metrics.jsonl")[-1]
    if key != 0:  # the runs with callbacks=[ema,early_stopping]
        results = json.loads((run / "results.json").read_text())
        assert results["stopped_early_at_epoch"] == 2 and "val_ema/accuracy" in results


@pytest.mark.slow
def test_sigterm_saves_and_exits_143_then_resumes_exactly(fmnist_root, killer, reference, tmp_path):
    run = tmp_path / "run"
    args = _args(fmnist_root, run, 0, "trainer.max_epochs=2")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(killer)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dltrain", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert time.monotonic() - sent < 10
    assert "stopped by SIGTERM" in stderr and "resumes it" in stderr
    result = dltrain(*args, env={"PYTHONPATH": str(killer)})
    assert result.returncode == 0, result.stderr
    _assert_same_run(reference[0], run)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("damage", ["truncated", "foreign", "mismatched"])
def test_a_bad_last_checkpoint_is_exit_2_and_leaves_the_folder_alone(
    damage, fmnist_root, reference, tmp_path
):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.yaml", "metrics.jsonl", "results.json", "train.log"):
        (run / name).write_bytes((reference[0] / name).read_bytes())
    (run / "checkpoints").mkdir()
    last = run / "checkpoints" / "last.pt"
    good = (reference[0] / "checkpoints" / "last.pt").read_bytes()
    if damage == "truncated":
        last.write_bytes(good[: len(good) // 2])
    elif damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, last)
    else:  # a whole checkpoint whose weights belong to another model
        state = torch.load(reference[0] / "checkpoints" / "last.pt", weights_only=True)
        state["model"] = {"fc.weight": torch.zeros(2, 2)}
        torch.save(state, last)
    before = _snapshot(run)
    result = dltrain(  # the reference's own command: its config.yaml stays as it is
        *_args(fmnist_root, run, 0),
        env={"PYTHONPATH": str(reference[0].parent.parent / "killer0")},
    )
    assert result.returncode == 2, result.stderr
    assert str(last) in result.stderr and "Traceback" not in result.stderr
    assert _snapshot(run) == before


def test_resume_refuses_a_changed_model_and_allows_more_epochs(fmnist_root, tmp_path):
    run = tmp_path / "run"
    first = dltrain(*fast_train_args(fmnist_root, run, "trainer.max_epochs=1"))
    assert first.returncode == 0, first.stderr
    changed = dltrain(*fast_train_args(fmnist_root, run, "trainer.max_epochs=2", "model=lenet"))
    assert changed.returncode == 2
    assert "model:" in changed.stderr and "different config" in changed.stderr
    more = dltrain(*fast_train_args(fmnist_root, run, "trainer.max_epochs=2"))
    assert more.returncode == 0, more.stderr
    assert "changed settings: trainer" in more.stdout
    epochs = [e["epoch"] for e in read_jsonl(run / "metrics.jsonl") if "val/loss" in e]
    assert epochs == [1, 2]


def test_resume_from_a_path_continues_in_a_new_folder(fmnist_root, tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    assert dltrain(*fast_train_args(fmnist_root, source, "trainer.max_epochs=1")).returncode == 0
    result = dltrain(
        *fast_train_args(
            fmnist_root,
            target,
            "trainer.max_epochs=2",
            f"resume={source / 'checkpoints' / 'last.pt'}",
        )
    )
    assert result.returncode == 0, result.stderr
    assert "resumed from" in (target / "train.log").read_text()
    assert [e["epoch"] for e in read_jsonl(target / "metrics.jsonl") if "val/loss" in e] == [2]


def test_keep_last_prunes_step_copies_but_never_best(fmnist_root, tmp_path):
    run = tmp_path / "run"
    result = dltrain(
        *fast_train_args(fmnist_root, run, "checkpoint.every_n_steps=2", "checkpoint.keep_last=2")
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["best.pt", "last.pt", "step-000000016.pt", "step-000000018.pt"]


NAN_MODEL = textwrap.dedent("""
    import os
    import torch
    from dltrain.models.classic import MLP
    from dltrain.registry import MODELS

    @MODELS.register("nan_mlp")
    class NanMLP(MLP):
        '''Returns NaN on forward calls listed in NAN_CALLS while training.'''
        calls = 0

        def forward(self, x):
            out = super().forward(x)
            if self.training and not x.is_meta:  # preflight's dry build runs on meta
                NanMLP.calls += 1
                if str(NanMLP.calls) in os.environ.get("NAN_CALLS", "").split(","):
                    return out * float("nan")
            return out
""")


@pytest.fixture
def nan_setup(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    (tmp_path / "nan_model.py").write_text(NAN_MODEL)
    (tmp_path / "configs" / "model").mkdir(parents=True)
    (tmp_path / "configs" / "model" / "nanny.yaml").write_text(
        "name: nan_mlp\nin_features: ${prod:${data.shape}}\nhidden: [16]\n"
        "num_classes: ${data.num_classes}\ndropout: 0.0\n"
    )
    extra = [
        "model=nanny",
        "imports=[nan_model]",
        "logging.every_n_steps=1",
        f"hydra.searchpath=[file://{tmp_path / 'configs'}]",
    ]
    return extra, {"PYTHONPATH": str(tmp_path)}


def test_nan_loss_stops_with_exit_1_and_keeps_the_last_good_checkpoint(
    fmnist_root, tmp_path, nan_setup
):
    extra, env = nan_setup
    run = tmp_path / "run"
    result = dltrain(
        *fast_train_args(fmnist_root, run, *extra, "checkpoint.every_n_steps=3"),
        env={**env, "NAN_CALLS": "14"},
    )
    assert result.returncode == 1, result.stderr
    assert "NaN or infinite by step 14" in result.stderr
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["progress"]["step"] == 12
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_on_nan_skip_skips_those_steps(fmnist_root, tmp_path, nan_setup):
    extra, env = nan_setup
    run = tmp_path / "run"
    result = dltrain(
        *fast_train_args(fmnist_root, run, *extra, "trainer.on_nan=skip"),
        env={**env, "NAN_CALLS": "3,11"},
    )
    assert result.returncode == 0, result.stderr
    epochs = [e for e in read_jsonl(run / "metrics.jsonl") if "val/loss" in e]
    assert epochs[-1]["skipped_steps"] == 2
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["model"].values())
