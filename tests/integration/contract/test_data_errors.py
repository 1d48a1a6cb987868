"""Corrupt data is bad input: exit 2, the message names the file and the fix, no traceback, and
the run folder is never created (the data files stay as they were).

Each broken variant is the fake data in its real format (dltrain.testing.fake_data) with one
thing wrong, found before the run folder exists by the reader that the loader uses too. The
tables of broken variants run through dltrain's entry point in the test process
(``dltrain_in_process``); the single cases below them run as real subprocesses.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dltrain.testing.fake_data import (
    write_fake_cifar10,
    write_fake_csv,
    write_fake_imagefolder,
    write_fake_mnist,
    write_idx,
)
from tests.helpers.cli import dltrain, dltrain_in_process, fast_train_args
from tests.helpers.contract import assert_refused, tree_state

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"


def _cut(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _set_byte(path: Path, index: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    data[index] = value
    path.write_bytes(bytes(data))


def _gzip(path: Path) -> None:
    path.write_bytes(gzip.compress(path.read_bytes()))


IDX_BREAKS: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "truncated images": (
        lambda raw: _cut(raw / TRAIN_IMAGES),
        (TRAIN_IMAGES, "is truncated", "data.download=true"),
    ),
    "wrong magic": (
        lambda raw: _set_byte(raw / TRAIN_LABELS, 2, 0x0D),
        (TRAIN_LABELS, "is not an IDX file", "data.download=true"),
    ),
    "gzip-compressed": (
        lambda raw: _gzip(raw / TRAIN_IMAGES),
        (TRAIN_IMAGES, "gzip-compressed", "gunzip"),
    ),
    "count mismatch": (
        lambda raw: write_idx(raw / TRAIN_LABELS, np.zeros(90, dtype=np.uint8)),
        (TRAIN_LABELS, "holds 100 images but", "holds 90 labels", "Copy both files again"),
    ),
    "test label out of range": (
        lambda raw: write_idx(raw / TEST_LABELS, np.full(40, 15, dtype=np.uint8)),
        (TEST_LABELS, "outside 0..9", "correct them"),
    ),
}


@pytest.mark.parametrize("case", IDX_BREAKS)
def test_a_broken_idx_file_is_named_before_the_run(case: str, tmp_path: Path):
    root, run = tmp_path / "data", tmp_path / "run"
    IDX_BREAKS[case][0](write_fake_mnist(root, train_size=100, test_size=40))
    before = tree_state(root)
    result = dltrain_in_process(*fast_train_args(root, run, "model=mlp"))
    assert_refused(result, *IDX_BREAKS[case][1])
    assert not run.exists() and tree_state(root) == before


def test_num_classes_below_the_labels_found(fmnist_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    before = tree_state(fmnist_root)
    result = dltrain(*fast_train_args(fmnist_root, run, "model=mlp", "data.num_classes=5"))
    assert_refused(result, TRAIN_LABELS, "data.num_classes=5", "Set data.num_classes=10")
    assert not run.exists() and tree_state(fmnist_root) == before


def _cifar_label(folder: Path, batch: str, label: int) -> None:
    entry = pickle.loads((folder / batch).read_bytes())
    entry["labels"][3] = label
    (folder / batch).write_bytes(pickle.dumps(entry, protocol=4))


def _cifar_drop_labels(folder: Path) -> None:
    entry = pickle.loads((folder / "data_batch_2").read_bytes())
    entry["labels"] = entry["labels"][:-2]
    (folder / "data_batch_2").write_bytes(pickle.dumps(entry, protocol=4))


CIFAR_BREAKS: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "truncated batch": (
        lambda folder: _cut(folder / "data_batch_3"),
        ("data_batch_3", "cannot be read as a CIFAR-10 python batch", "data.download=true"),
    ),
    "test label out of range": (
        lambda folder: _cifar_label(folder, "test_batch", 12),
        ("test_batch", "outside 0..9", "Set data.num_classes=13"),
    ),
    "count mismatch": (
        _cifar_drop_labels,
        ("data_batch_2", "holds 20 images but", "holds 18 labels"),
    ),
}


@pytest.mark.parametrize("case", CIFAR_BREAKS)
def test_a_broken_cifar_batch_is_named_before_the_run(case: str, tmp_path: Path):
    root, run = tmp_path / "data", tmp_path / "run"
    CIFAR_BREAKS[case][0](write_fake_cifar10(root, train_size=100, test_size=20))
    before = tree_state(root)
    result = dltrain_in_process(*fast_train_args(root, run, "data=cifar10", "model=mlp"))
    assert_refused(result, *CIFAR_BREAKS[case][1])
    assert not run.exists() and tree_state(root) == before


def _csv_row(path: Path, row: int, edit: Callable[[str], str]) -> None:
    lines = path.read_text().splitlines()
    lines[row] = edit(lines[row])
    path.write_text("\n".join(lines) + "\n")


CSV_BREAKS: dict[str, tuple[str, Callable[[str], str], tuple[str, ...]]] = {
    "test label 15": (
        "test.csv",
        lambda line: "15" + line[line.index(",") :],
        ("test.csv", "outside 0..9", "Set data.num_classes=16"),
    ),
    "negative label": (
        "train.csv",
        lambda line: "-1" + line[line.index(",") :],
        ("train.csv", "span -1..", "correct them in the file"),
    ),
    "short row": (
        "train.csv",
        lambda line: line.rsplit(",", 3)[0],
        ("train.csv line 8", "782 fields", "Fix or delete that row"),
    ),
}


@pytest.mark.parametrize("case", CSV_BREAKS)
def test_a_broken_csv_row_is_named_before_the_run(case: str, tmp_path: Path):
    root, run = tmp_path / "data", tmp_path / "run"
    write_fake_csv(root / "train.csv", count=60)
    write_fake_csv(root / "test.csv", count=20, seed=1)
    name, edit, phrases = CSV_BREAKS[case]
    _csv_row(root / name, 7, edit)
    before = tree_state(root)
    files = (f"data.train_file={root / 'train.csv'}", f"data.test_file={root / 'test.csv'}")
    result = dltrain_in_process(*_train_args(run, "data=csv", *files))
    assert_refused(result, *phrases)
    assert not run.exists() and tree_state(root) == before


def _train_args(run: Path, *extra: str) -> list[str]:
    """A one-epoch MLP run for the data sets without data.download (csv, imagefolder)."""
    return ["train", "model=mlp", "data.batch_size=16", "trainer.max_epochs=1",
            f"hydra.run.dir={run}", *extra]  # fmt: skip


def _imagefolder_args(root: Path, run: Path, *extra: str) -> list[str]:
    return _train_args(
        run, "data=imagefolder", f"data.root={root}", "data.num_classes=3", "data.image_size=16",
        f"data.val_dir={root / 'val'}", *extra,
    )  # fmt: skip


IMAGE_BREAKS: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated png": (lambda root: _cut(root / "train" / "cat" / "0.png"), "train/cat/0.png"),
    "not an image": (
        lambda root: (root / "val" / "dog" / "3.jpg").write_bytes(b"<html>not found</html>"),
        "val/dog/3.jpg",
    ),
    "empty file": (lambda root: (root / "train" / "frog" / "5.jpg").write_bytes(b""), "5.jpg"),
}


@pytest.mark.parametrize("case", IMAGE_BREAKS)
def test_a_broken_image_is_named_before_the_run(case: str, tmp_path: Path):
    root, run = tmp_path / "data", tmp_path / "run"
    write_fake_imagefolder(root, per_class=6, splits=("train", "val"))
    IMAGE_BREAKS[case][0](root)
    before = tree_state(root)
    result = dltrain_in_process(*_imagefolder_args(root, run))
    assert_refused(result, IMAGE_BREAKS[case][1], "not a readable image", "Replace it")
    assert not run.exists() and tree_state(root) == before


def test_a_truncated_jpeg_is_named_before_the_run(tmp_path: Path):
    """PIL's verify() reads no JPEG scan data; a JPEG without its end marker is decoded in
    preflight, so one cut in its pixels is named before anything is written."""
    root, run = tmp_path / "data", tmp_path / "run"
    write_fake_imagefolder(root, per_class=6, splits=("train", "val"))
    broken = root / "train" / "dog" / "1.jpg"
    pixels = np.random.default_rng(0).integers(0, 256, (120, 120, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(broken)
    _cut(broken, keep=0.7)
    before = tree_state(root)
    result = dltrain(*_imagefolder_args(root, run, "data.cache=false"))
    assert_refused(result, "train/dog/1.jpg", "is truncated", "Replace it")
    assert tree_state(root) == before and not run.exists()


def test_imagefolder_decoded_per_sample_trains(tmp_path: Path):
    """data.in_memory=false feeds torch's DataLoader (it was an AttributeError)."""
    root, run = tmp_path / "data", tmp_path / "run"
    write_fake_imagefolder(root, per_class=6, splits=("train", "val"))
    result = dltrain(*_imagefolder_args(root, run, "data.in_memory=false"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "checkpoints" / "best.pt").is_file()


def test_memory_batches_of_images_decoded_per_sample_are_refused(tmp_path: Path):
    root, run = tmp_path / "data", tmp_path / "run"
    write_fake_imagefolder(root, per_class=6, splits=("train", "val"))
    before = tree_state(root)
    result = dltrain(*_imagefolder_args(root, run, "data.in_memory=false", "data.loader=memory"))
    assert_refused(result, "data.in_memory=false", "Set data.loader=auto")
    assert not run.exists() and tree_state(root) == before
