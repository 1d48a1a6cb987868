"""Bad input: exit 2, a message naming the problem and the fix, no traceback, nothing written.

The table of bad train overrides runs through dltrain's entry point in the test process
(``dltrain_in_process``); the other tests run real subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.cli import dltrain, dltrain_in_process, fast_train_args


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model=resnt", "Known model options: alexnet, fmnist_cnn, lenet, mlp"),
        ("trainer.max_epoch=3", "Did you mean 'trainer.max_epochs'"),
        ("optimizer.lr=abc", "optimizer.lr"),
        ("data.batch_size=0", "data.batch_size must be a positive integer"),
        ("data.batch_size=-8", "data.batch_size must be a positive integer"),
    ],
)
def test_bad_train_input(override: str, expected: str, fmnist_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    result = dltrain_in_process(*fast_train_args(fmnist_root, run, override))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not run.exists()


def test_missing_data_says_where_the_files_go(tmp_path: Path):
    run = tmp_path / "run"
    result = dltrain(*fast_train_args(tmp_path / "empty", run))
    assert result.returncode == 2
    assert str(tmp_path / "empty" / "FashionMNIST" / "raw") in result.stderr
    assert "train-images-idx3-ubyte" in result.stderr
    assert not run.exists() and not (tmp_path / "empty").exists()


def test_resume_never_refuses_a_folder_with_a_run(tmp_path: Path, fmnist_root: Path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"keep me")
    result = dltrain(*fast_train_args(fmnist_root, run, "resume=never"))
    assert result.returncode == 2
    assert "already holds a run" in result.stderr
    assert (run / "checkpoints" / "last.pt").read_bytes() == b"keep me"


def test_eval_of_a_missing_checkpoint(tmp_path: Path):
    result = dltrain("eval", f"ckpt={tmp_path / 'nope.pt'}")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_eval_of_a_corrupt_or_foreign_file(tmp_path: Path):
    truncated = tmp_path / "truncated.pt"
    torch.save({"model": {"w": torch.zeros(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for path, expected in ((truncated, "cannot be read"), (foreign, "not a dltrain checkpoint")):
        result = dltrain("eval", f"ckpt={path}")
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr


def test_eval_of_a_checkpoint_that_does_not_fit_the_model(tmp_path: Path, fmnist_root: Path):
    from dltrain.config.compose import compose
    from dltrain.config.freeze import to_plain

    cfg = to_plain(compose([f"data.root={fmnist_root}", "data.download=false", "model=lenet"]))
    path = tmp_path / "mismatch.pt"
    torch.save({"model": {"conv1.weight": torch.zeros(3, 3)}, "config": cfg}, path)
    result = dltrain("eval", f"ckpt={path}")
    assert result.returncode == 2
    assert "does not fit the model" in result.stderr
    assert not (tmp_path / "eval_test.json").exists()


def test_unknown_command_and_eval_option():
    assert "Did you mean 'train'" in dltrain("trian").stderr
    result = dltrain("eval", "ckpt=x", "splt=val")
    assert result.returncode == 2 and "no option 'splt'" in result.stderr
