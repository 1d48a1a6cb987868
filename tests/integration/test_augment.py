"""Batch augmentation through real `dltrain train` runs: the torch DataLoader path with mixing,
and the refusals preflight makes before any folder exists. (The in-memory path's kill-and-
resume run is in test_resume.py.)"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import dltrain, fast_train_args, read_jsonl
from tests.helpers.contract import assert_train_refused


def test_the_torch_loader_takes_the_same_names_and_mixes_after_collation(fmnist_root, tmp_path):
    run = tmp_path / "run"
    transforms = "[{name: rand_augment},{name: random_erasing},{name: mixup},{name: cutmix}]"
    result = dltrain(
        *fast_train_args(
            fmnist_root, run, "data.loader=torch", f"data.train_transforms={transforms}",
            "trainer.max_epochs=1", "trainer.max_steps=3", "logging.every_n_steps=1",
        )
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    epoch = [e for e in read_jsonl(run / "metrics.jsonl") if "train/accuracy" in e][-1]
    assert 0.0 <= epoch["train/accuracy"] <= 1.0 and epoch["step"] == 3


def test_mixup_on_segmentation_is_refused_before_anything_is_written(fmnist_root, tmp_path: Path):
    overrides = ["model=unet", "data.train_transforms=[{name: mixup}]"]
    phrases = ["mixup mix class labels", "segmentation model", "Remove mixup"]
    assert_train_refused(fmnist_root, tmp_path, overrides, phrases)
