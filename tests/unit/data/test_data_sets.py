"""Every data set builds from its config on small files in the real on-disk format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from dltrain.config.compose import group_options
from dltrain.data.build import build_data
from dltrain.data.checks import check_data
from dltrain.data.formats.cifar_pickle import read_batch
from dltrain.data.quadratic import quadratic_points
from dltrain.errors import UserError
from dltrain.testing.fake_data import (
    write_fake_cifar10,
    write_fake_csv,
    write_fake_imagefolder,
    write_fake_mnist,
)
from tests.helpers.data import data_cfg, read_idx


@pytest.mark.parametrize("option", group_options("data"))
def test_every_data_config_gives_shape_and_num_classes(option: str):
    cfg = data_cfg(option)
    assert all(isinstance(v, int) and v > 0 for v in cfg["shape"]), cfg["shape"]
    assert isinstance(cfg["num_classes"], int) and cfg["num_classes"] > 0


@pytest.mark.parametrize(("name", "folder"), [("fashionmnist", "FashionMNIST"), ("mnist", "MNIST")])
def test_mnist_family_classification(name: str, folder: str, tmp_path: Path):
    raw = write_fake_mnist(tmp_path, train_size=100, test_size=40, dataset_class=folder)
    splits = build_data(data_cfg(name, f"data.root={tmp_path}", "data.normalize=false"))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (90, 10, 40)
    assert splits.num_classes == 10 and splits.task == "classification"
    images = read_idx(raw / "t10k-images-idx3-ubyte")
    labels = read_idx(raw / "t10k-labels-idx1-ubyte")
    for index in (0, 17, 39):
        image, label = splits.test[index]
        assert image.shape == (1, 28, 28) and image.dtype == torch.float32
        assert label.dtype == torch.int64 and int(label) == labels[index]
        pixels = (image[0] * 255).round().to(torch.uint8)
        assert torch.equal(pixels, torch.from_numpy(images[index]))


def test_normalisation_uses_the_data_set_statistics(tmp_path: Path):
    write_fake_mnist(tmp_path, train_size=20, test_size=10)
    plain = build_data(data_cfg("fashionmnist", f"data.root={tmp_path}", "data.normalize=false"))
    normal = build_data(data_cfg("fashionmnist", f"data.root={tmp_path}"))
    custom = build_data(
        data_cfg("fashionmnist", f"data.root={tmp_path}", "data.mean=[0.5]", "data.std=[0.25]")
    )
    pixels = plain.test[3][0]
    assert torch.allclose(normal.test[3][0], (pixels - 0.2860) / 0.3530, atol=1e-6)
    assert torch.allclose(custom.test[3][0], (pixels - 0.5) / 0.25, atol=1e-6)


def test_image_size_resizes_and_follows_into_shape(tmp_path: Path):
    write_fake_mnist(tmp_path, train_size=20, test_size=10, dataset_class="MNIST")
    cfg = data_cfg("mnist", f"data.root={tmp_path}", "data.image_size=32")
    assert cfg["shape"] == [1, 32, 32]
    splits = build_data(cfg)
    assert splits.train[0][0].shape == (1, 32, 32) and splits.test[0][0].shape == (1, 32, 32)


@pytest.mark.parametrize("threshold", [0.1, 0.5])
def test_segmentation_masks_are_pixels_above_the_threshold(threshold: float, tmp_path: Path):
    raw = write_fake_mnist(tmp_path, train_size=40, test_size=20, style="garments")
    overrides = ("data.normalize=false", f"data.mask_threshold={threshold}")
    cfg = data_cfg("fashionmnist", f"data.root={tmp_path}", *overrides)
    splits = build_data(cfg, task="segmentation")
    assert splits.task == "segmentation"
    images = read_idx(raw / "t10k-images-idx3-ubyte")
    for index in range(20):
        image, mask = splits.test[index]
        assert mask.shape == (1, 28, 28) and mask.dtype == torch.float32
        expected = torch.from_numpy(images[index] / 255.0 > threshold).float()
        assert torch.equal(mask[0], expected)
        assert torch.allclose(image[0], torch.from_numpy(images[index]).float() / 255)


def test_segmentation_masks_follow_image_size(tmp_path: Path):
    write_fake_mnist(tmp_path, train_size=20, test_size=10, style="garments")
    cfg = data_cfg("fashionmnist", f"data.root={tmp_path}", "data.image_size=32")
    image, mask = build_data(cfg, task="segmentation").test[0]
    assert image.shape == mask.shape == (1, 32, 32)
    assert set(mask.unique().tolist()) == {0.0, 1.0}


def test_cifar10_reads_the_python_batches(tmp_path: Path):
    folder = write_fake_cifar10(tmp_path, train_size=50, test_size=20)
    splits = build_data(data_cfg("cifar10", f"data.root={tmp_path}", "data.normalize=false"))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (45, 5, 20)
    with open(folder / "test_batch", "rb") as file:
        written = pickle.load(file)
    for index in (0, 19):
        image, label = splits.test[index]
        assert image.shape == (3, 32, 32) and int(label) == written["labels"][index]
        expected = torch.from_numpy(written["data"][index].reshape(3, 32, 32))
        assert torch.equal((image * 255).round().to(torch.uint8), expected)


def test_cifar10_batches_may_only_hold_arrays(tmp_path: Path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}))
    with pytest.raises(UserError, match="not allowed"):
        read_batch(path)


def _imagefolder_cfg(root: Path, *extra: str) -> dict:
    return data_cfg(
        "imagefolder", f"data.root={root}", "data.num_classes=3", "data.image_size=16", *extra
    )


def test_imagefolder_with_val_and_test_folders(tmp_path: Path):
    write_fake_imagefolder(tmp_path, per_class=6)
    folders = (f"data.val_dir={tmp_path}/val", f"data.test_dir={tmp_path}/test")
    cfg = _imagefolder_cfg(tmp_path, *folders)
    check_data(cfg)
    splits = build_data(cfg)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 18, 18)
    labels = [int(splits.test[i][1]) for i in range(18)]
    assert labels == [0] * 6 + [1] * 6 + [2] * 6  # cat, dog, frog: sorted folder names
    image = splits.train[0][0]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert abs(float(torch.stack([splits.train[i][0] for i in range(18)]).mean())) < 0.2


def test_imagefolder_grayscale_split_and_lazy_decoding(tmp_path: Path):
    write_fake_imagefolder(tmp_path, per_class=4, splits=("train",))
    extra = ("data.shape=[1,16,16]", "data.val_split=0.25", "data.normalize=false")
    memory = build_data(_imagefolder_cfg(tmp_path, *extra))
    lazy = build_data(_imagefolder_cfg(tmp_path, *extra, "data.in_memory=false"))
    assert (len(memory.train), len(memory.val), memory.test) == (9, 3, None)
    for index in range(3):
        assert memory.val[index][0].shape == (1, 16, 16)
        assert torch.equal(memory.val[index][0], lazy.val[index][0])


def test_imagefolder_checks_say_what_is_wrong(tmp_path: Path):
    with pytest.raises(UserError, match=str(tmp_path / "train")):
        check_data(_imagefolder_cfg(tmp_path))
    write_fake_imagefolder(tmp_path, per_class=2, splits=("train",))
    with pytest.raises(UserError, match="Set data.num_classes=3"):
        check_data(_imagefolder_cfg(tmp_path, "data.num_classes=5"))
    (tmp_path / "val" / "horse").mkdir(parents=True)
    with pytest.raises(UserError, match="horse"):
        check_data(_imagefolder_cfg(tmp_path, f"data.val_dir={tmp_path}/val"))
    with pytest.raises(UserError, match="does not match data.image_size"):
        check_data(_imagefolder_cfg(tmp_path, "data.shape=[3,8,8]"))


def test_csv_reads_the_kaggle_layout(tmp_path: Path):
    train_file = write_fake_csv(tmp_path / "train.csv", count=50, seed=1)
    test_file = write_fake_csv(tmp_path / "test.csv", count=20, seed=2)
    files = (f"data.train_file={train_file}", f"data.test_file={test_file}")
    cfg = data_cfg("csv", *files, "data.normalize=false")
    check_data(cfg)
    splits = build_data(cfg)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (45, 5, 20)
    assert test_file.read_text().splitlines()[0].startswith("label,pixel1,pixel2")
    table = np.loadtxt(test_file, delimiter=",", skiprows=1, dtype=np.int64)
    image, label = splits.test[7]
    assert int(label) == table[7, 0] and image.shape == (1, 28, 28)
    assert torch.equal((image * 255).round().flatten().long(), torch.from_numpy(table[7, 1:]))
    _, mask = build_data(cfg, task="segmentation").test[7]
    assert torch.equal(mask.flatten(), torch.from_numpy(table[7, 1:] / 255 > 0.1).float())


def test_csv_checks_the_header(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("pixel1,pixel2\n1,2\n")
    with pytest.raises(UserError, match="not in the Kaggle layout"):
        check_data(data_cfg("csv", f"data.train_file={bad}", "data.test_file=null"))
    with pytest.raises(UserError, match=str(tmp_path / "nope.csv")):
        check_data(data_cfg("csv", f"data.train_file={tmp_path / 'nope.csv'}"))


def test_quadratic_is_the_tutorial_recipe():
    cfg = data_cfg("quadratic")
    splits = build_data(cfg, task="regression")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (810, 90, 100)
    assert splits.task == "regression" and cfg["shape"] == [1] and cfg["num_classes"] == 1
    x, y = splits.train[0]
    assert x.shape == y.shape == (1,) and x.dtype == y.dtype == torch.float32
    every = [splits.train, splits.val, splits.test]
    xs = torch.cat([torch.stack([s[i][0] for i in range(len(s))]) for s in every])
    assert torch.equal(xs.flatten().sort().values, torch.linspace(-1, 1, 1000))
    points_x, points_y = quadratic_points(1000, 0.1)
    noise = points_y - points_x.pow(2)
    assert 0.08 < float(noise.std()) < 0.12 and abs(float(noise.mean())) < 0.02
    assert torch.equal(quadratic_points(1000, 0.1)[1], points_y), "the same points every run"


@pytest.mark.parametrize(
    ("name", "task", "offers"),
    [("quadratic", "classification", "regression"), ("cifar10", "segmentation", "classification")],
)
def test_a_data_set_without_targets_for_the_task(name: str, task: str, offers: str):
    with pytest.raises(UserError, match=f"has no {task} targets \\(it offers {offers}"):
        build_data(data_cfg(name), task=task)


def test_csv_is_parsed_once_then_read_from_its_cache(tmp_path: Path, monkeypatch):
    from dltrain.data import csv_images

    train_file = write_fake_csv(tmp_path / "train.csv", count=30, seed=1)
    cfg = data_cfg("csv", f"data.train_file={train_file}", "data.test_file=null")
    first = build_data(cfg).train
    cache = tmp_path / "train.csv.dltrain-cache.pt"
    assert cache.is_file()

    def no_parsing(*args):
        raise AssertionError("parsed again despite a valid cache")

    monkeypatch.setattr(csv_images, "read_csv_images", no_parsing)
    again = build_data(cfg).train
    assert torch.equal(_stacked(first), _stacked(again))

    write_fake_csv(train_file, count=40, seed=3)  # a changed file is parsed again
    monkeypatch.undo()
    assert len(build_data(cfg).train) + len(build_data(cfg).val) == 40
    cache.unlink()
    build_data(data_cfg("csv", f"data.train_file={train_file}", "data.test_file=null",
                        "data.cache=false"))  # fmt: skip
    assert not cache.exists()


def test_imagefolder_decodes_once_per_size(tmp_path: Path, monkeypatch):
    from dltrain.data import imagefolder

    write_fake_imagefolder(tmp_path, per_class=3, splits=("train",))
    first = build_data(_imagefolder_cfg(tmp_path)).train
    assert (tmp_path / "train" / ".dltrain-cache-3x16.pt").is_file()
    monkeypatch.setattr(imagefolder, "decode_all", lambda *a: 1 / 0)
    again = build_data(_imagefolder_cfg(tmp_path)).train
    assert torch.equal(_stacked(first), _stacked(again))
    with pytest.raises(ZeroDivisionError):  # another image size is decoded (and cached) anew
        build_data(_imagefolder_cfg(tmp_path, "data.shape=[3,8,8]", "data.image_size=8"))


def _stacked(dataset) -> torch.Tensor:
    return torch.stack([torch.cat([dataset[i][0].flatten(), dataset[i][1].view(1).float()])
                        for i in range(len(dataset))])  # fmt: skip


def test_digits_offer_stroke_masks_for_segmentation():
    pytest.importorskip("sklearn")
    cfg = data_cfg("digits", "data.image_size=8")
    classes, masks = build_data(cfg), build_data(cfg, task="segmentation")
    image, label = classes.test[3]
    same_image, mask = masks.test[3]
    assert torch.equal(image, same_image) and label.ndim == 0
    assert torch.equal(mask, (image * 0.5 + 0.5 > 0.5).float())  # normalised with 0.5/0.5
