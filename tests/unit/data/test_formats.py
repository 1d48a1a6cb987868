"""The validating readers (dltrain/data/formats): good files read as written, broken ones are a
UserError naming the file and what is wrong."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dltrain.data.formats import cifar_pickle, csv_table, idx
from dltrain.data.formats.image_files import read_image, verify_image
from dltrain.data.formats.labels import check_range
from dltrain.errors import UserError
from dltrain.testing.fake_data import (
    write_fake_cifar10,
    write_fake_csv,
    write_fake_mnist,
    write_idx,
)


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return write_fake_mnist(tmp_path, train_size=30, test_size=10)


def test_idx_reads_what_was_written(tmp_path: Path):
    array = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    write_idx(tmp_path / "a", array)
    assert np.array_equal(idx.read_idx(tmp_path / "a", 3), array)
    assert idx.read_header(tmp_path / "a", 3) == idx.IdxHeader((5, 7, 3), 16)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda b: b[:-5], "is truncated: its header announces 30 x 28 x 28"),
        (lambda b: b + b"\0", "is longer than its header says"),
        (lambda b: b[:10], "not even a whole header"),
        (lambda b: b"\0\0\x09\x03" + b[4:], "it starts '00 00 09 03', not '00 00 08 03'"),
        (gzip.compress, "is gzip-compressed"),
    ],
)
def test_idx_header_must_agree_with_the_file(damage, expected: str, raw: Path):
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(UserError, match=expected) as err:
        idx.read_header(path, 3)
    assert str(path) in str(err.value)


def test_idx_split_pairs_images_and_labels(raw: Path):
    images, labels = idx.read_split(raw, "test", num_classes=10)
    assert images.shape == (10, 28, 28) and labels.shape == (10,)
    assert idx.read_split(raw, "test", 10, pixels=False)[0] is None
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(9, dtype=np.uint8))
    with pytest.raises(UserError, match="holds 10 images but .* holds 9 labels"):
        idx.read_split(raw, "test", 10, pixels=False)


def test_labels_outside_the_classes_say_which_fix():
    check_range(np.array([0, 9]), 10, "f")
    with pytest.raises(UserError, match="f has 1 label.* Set data.num_classes=12 if"):
        check_range(np.array([0, 11, 3]), 10, "f")
    with pytest.raises(UserError, match="span -2..3. Labels are class indices"):
        check_range(np.array([-2, 3]), 10, "f")


def test_csv_scan_and_read_agree(tmp_path: Path):
    path = write_fake_csv(tmp_path / "t.csv", count=12)
    images, labels = csv_table.read_csv(path, 1, 10)
    assert images.shape == (12, 1, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(csv_table.scan_csv(path, 1, 10), labels)
    with pytest.raises(UserError, match="outside 0..2"):
        csv_table.scan_csv(path, 1, 3)


def test_csv_rows_and_pixels_are_checked(tmp_path: Path):
    path = write_fake_csv(tmp_path / "t.csv", count=5)
    lines = path.read_text().splitlines()
    lines[2] = "x" + lines[2][1:]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match="t.csv line 3 is not a label and 784 pixel values"):
        csv_table.scan_csv(path, 1, 10)
    lines[2] = "1" + lines[2][1:-1] + "999"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match="pixel values must be integers in 0..255"):
        csv_table.read_csv(path, 1, 10)


def test_cifar_batches_are_checked(tmp_path: Path):
    folder = write_fake_cifar10(tmp_path, train_size=50, test_size=10)
    images, labels = cifar_pickle.read_batches(folder, ["test_batch"], 10)
    assert images.shape == (10, 3, 32, 32) and labels.shape == (10,)
    data = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(data[: len(data) // 3])
    with pytest.raises(UserError, match="test_batch cannot be read as a CIFAR-10 python batch"):
        cifar_pickle.read_batch(folder / "test_batch")


def test_images_verify_then_decode(tmp_path: Path):
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    png, jpg = tmp_path / "a.png", tmp_path / "b.jpg"
    Image.fromarray(pixels).save(png)
    Image.fromarray(pixels).save(jpg)
    verify_image(png)
    assert read_image(jpg, 1, 16).shape == (16, 16, 1)
    png.write_bytes(png.read_bytes()[:-200])
    with pytest.raises(UserError, match="a.png is not a readable image"):
        verify_image(png)
    good = jpg.read_bytes()
    jpg.write_bytes(good + b"a trailer after the end marker")
    verify_image(jpg)  # no end marker at the end, but the whole image decodes
    jpg.write_bytes(good[: len(good) * 2 // 3])
    with pytest.raises(UserError, match="b.jpg is not a readable image .*truncated"):
        verify_image(jpg)  # no end marker: decoded in full, which finds the cut
    with pytest.raises(UserError, match="b.jpg is not a readable image .*truncated"):
        read_image(jpg, 3, 16)
