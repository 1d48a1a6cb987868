"""Preflight's dry build: what would fail when the run builds its parts fails before any folder.

Each case is a ``dltrain train`` on fake FashionMNIST files: exit 2, a message naming the key
and the fix, no traceback, and the working folder byte-for-byte as it was (no run folder, no
config.yaml). The case table runs through dltrain's entry point in the test process (no torch
import per case); one case and the tests below it run as real subprocesses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import dltrain, fast_train_args
from tests.helpers.contract import assert_refused, assert_train_refused, tree_state

CASES = [
    pytest.param(
        ["model=alexnet", "model.stem=imagenet"],
        ["data.image_size", "67x67 or larger", "model 'alexnet'"],
        id="alexnet-imagenet-stem-at-28",
    ),
    pytest.param(
        ["model=lenet", "data.image_size=224"],
        ["data.image_size=32", "32x32 or smaller", "lenet expects at most 32x32"],
        id="lenet-at-224",
    ),
    pytest.param(
        ["data.image_size=32"],
        ["model 'fmnist_cnn'", "28x28 only", "data.image_size=28"],
        id="fmnist-cnn-at-32",
    ),
    pytest.param(
        ["model=torchvision", "model.arch=inception_v3"],
        ["model.arch=inception_v3", "75x75 or larger", "data.image_size=75"],
        id="inception-v3-at-28",
        marks=pytest.mark.slow,  # ~20 meta forward passes of inception to find its size
    ),
    pytest.param(
        ["model.freeze=[convv]"],
        ["model.freeze: no parameters under 'convv'", "conv, fc"],
        id="freeze-unknown-prefix",
    ),
    pytest.param(
        ["model.freeze=[conv,fc]"],
        ["every one is frozen", "freeze less"],
        id="freeze-everything",
    ),
    pytest.param(
        ["optimizer.lr=-1"],
        ["optimizer.lr=-1 is refused", "Invalid learning rate", "Change optimizer.lr"],
        id="negative-lr",
    ),
    pytest.param(
        ["optimizer.betas=[0.9,0.99,0.1]"],
        ["optimizer.betas=[0.9, 0.99, 0.1] has 3 values", "takes 2"],
        id="three-betas",
    ),
    pytest.param(
        ["optimizer=sgd", "optimizer.momentum=-0.5"],
        ["optimizer.momentum=-0.5 is refused", "Change optimizer.momentum"],
        id="negative-momentum",
    ),
    pytest.param(
        ["optimizer.param_groups=[{match: fc, lrr: 0.1}]"],
        ["optimizer.param_groups[0].lrr is not an option", "Did you mean 'lr'"],
        id="param-group-typo",
    ),
    pytest.param(
        ["optimizer.param_groups=[{match: head, lr: 0.1}]"],
        ["param_groups[0].match=head selects no trainable parameter", "conv, fc"],
        id="param-group-matches-nothing",
    ),
    pytest.param(
        ["optimizer.param_groups=[{match: fc, betas: [0.9]}]"],
        ["optimizer.param_groups[0].betas=[0.9] has 1 values", "takes 2"],
        id="param-group-one-beta",
    ),
    pytest.param(
        ["model.init={name: normal, stdd: 0.1}"],
        ["model.init: 'stdd' is not an option of normal", "std"],
        id="init-option-typo",
    ),
    pytest.param(
        ["model.init={name: constant}"],
        ["model.init=constant needs val"],
        id="init-missing-option",
    ),
    pytest.param(
        [
            "scheduler=sequential",
            "scheduler.schedulers=[{name: linear, start_factr: 0.1}, {name: cosine}]",
        ],
        ["scheduler.schedulers[0].start_factr is not an option", "Did you mean 'start_factor'"],
        id="nested-scheduler-typo",
    ),
    pytest.param(
        ["scheduler=sequential", "scheduler.schedulers=[{name: linear}, {name: cosien}]"],
        ["unknown scheduler 'cosien'", "Did you mean 'cosine'"],
        id="nested-scheduler-unknown",
    ),
    pytest.param(
        ["scheduler=cyclic", "scheduler.mode=sawtooth"],
        ["scheduler.mode=sawtooth is refused", "Change scheduler.mode"],
        id="scheduler-refused-value",
    ),
    pytest.param(
        ["optimizer=lbfgs", "trainer.grad_accum=2"],
        ["trainer.grad_accum=1"],
        id="lbfgs-with-accumulation",
    ),
    pytest.param(
        ["optimizer=sparse_adam"],
        ["only fits parameters with sparse gradients", "optimizer=adam"],
        id="sparse-adam-on-dense-model",
    ),
    pytest.param(
        ["device=cpu", "distributed.sync_bn=true"],
        ["distributed.sync_bn=true needs CUDA", "distributed.sync_bn=false"],
        id="sync-bn-on-cpu",
    ),
    pytest.param(
        ["model.num_classes=5"],
        ["outputs [5] values per sample", "10 classes", "model.num_classes=10"],
        id="head-smaller-than-classes",
    ),
]


@pytest.mark.parametrize(("overrides", "phrases"), CASES)
def test_refused_before_the_run_folder_exists(
    overrides: list[str], phrases: list[str], fmnist_root: Path, tmp_path: Path
):
    assert_train_refused(fmnist_root, tmp_path, overrides, phrases)


def test_a_case_is_refused_the_same_in_its_own_process(fmnist_root: Path, tmp_path: Path):
    overrides, phrases = CASES[0].values
    assert_train_refused(fmnist_root, tmp_path, overrides, phrases, own_process=True)


def test_an_existing_run_is_left_untouched(fmnist_root: Path, tmp_path: Path):
    """A bad value on a command that would resume a run: its folder is not written."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"keep me")
    (run / "config.yaml").write_text("keep: me\n")
    before = tree_state(tmp_path)
    result = dltrain(*fast_train_args(fmnist_root, run, "optimizer.lr=-1"), cwd=tmp_path)
    assert_refused(result, "optimizer.lr=-1 is refused")
    assert tree_state(tmp_path) == before


def test_a_bad_grid_point_stops_the_sweep_before_any_job(fmnist_root: Path, tmp_path: Path):
    sweep = tmp_path / "sweep"
    before = tree_state(tmp_path)
    args = fast_train_args(fmnist_root, tmp_path / "unused", "optimizer.lr=0.01,-1")
    result = dltrain("train", "-m", *args[1:], f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert_refused(result, "optimizer.lr=-1 is refused")
    assert not sweep.exists()
    assert tree_state(tmp_path) == before


def test_weights_are_not_read_by_the_dry_build(fmnist_root: Path, tmp_path: Path):
    """The dry build builds the architecture only: a weights file that does not fit the
    model is still the run's own exit-2 error, and a bad size is found without reading it."""
    weights = tmp_path / "not-weights.pt"
    weights.write_bytes(b"not a checkpoint")
    run = tmp_path / "run"
    result = dltrain(
        *fast_train_args(fmnist_root, run, f"model.weights={weights}", "data.image_size=32"),
        cwd=tmp_path,
    )
    assert_refused(result, "model 'fmnist_cnn'", "28x28 only")
    assert not run.exists()
