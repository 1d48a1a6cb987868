"""Streaming tar shards in this process: the rank x worker split of an epoch, the exact
mid-epoch position, the shard verb's round trips (classification, segmentation, a datasets
folder) and its refusals."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from dltrain.data.formats.idx import read_split
from dltrain.data.streaming.batches import stream_batches
from dltrain.data.streaming.plan import StreamPlan
from dltrain.data.streaming.writer import write_shards
from dltrain.errors import UserError
from tests.helpers.cli import dltrain_in_process
from tests.helpers.contract import assert_refused, tree_state

COUNTS = (7, 0, 13, 5, 9)  # an empty shard among them


def _epoch(plan: StreamPlan) -> list[list[tuple[int, int]]]:
    """The rank's batches in loop order, each as its (shard, index) samples."""
    batches = {}
    for worker in range(plan.workers):
        for index in plan.worker_share(worker):
            positions = plan.positions(plan.batch_number(index))
            batches[index] = [plan.locate(p) for p in positions]
    return [batches[i] for i in sorted(batches)]


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("workers", [0, 3])
@pytest.mark.parametrize("train", [True, False])
def test_ranks_and_workers_split_the_epoch_disjoint_and_covering(world_size, workers, train):
    everything = Counter((s, i) for s, n in enumerate(COUNTS) for i in range(n))
    seen: Counter = Counter()
    lengths = set()
    for rank in range(world_size):
        plan = StreamPlan(COUNTS, 4, True, 7, rank, world_size, pad=train, workers=workers)
        plan.set_epoch(3)
        samples = [s for batch in _epoch(plan) for s in batch]
        assert len(samples) == plan.piece()[1] == len(plan)
        lengths.add(len(samples))
        seen.update(samples)
        again = StreamPlan(COUNTS, 4, True, 7, rank, world_size, pad=train, workers=workers)
        again.set_epoch(3)
        assert _epoch(again) == _epoch(plan)  # a pure function of (seed, epoch, rank)
    assert set(seen) == set(everything)  # every sample, each once (padding repeats a few)
    assert sum(seen.values()) - sum(everything.values()) == (
        (-sum(COUNTS)) % world_size if train else 0
    )
    if train:
        assert len(lengths) == 1  # DDP ranks take equal steps


def test_the_order_changes_with_the_epoch_and_the_seed():
    def order(seed: int, epoch: int) -> list:
        plan = StreamPlan(COUNTS, 4, True, seed)
        plan.set_epoch(epoch)
        return [s for batch in _epoch(plan) for s in batch]

    assert order(0, 1) == order(0, 1)
    assert order(0, 1) != order(0, 2) and order(0, 1) != order(1, 1)
    unshuffled = StreamPlan(COUNTS, 4, False)
    flat = [s for batch in _epoch(unshuffled) for s in batch]
    assert flat == [(s, i) for s, n in enumerate(COUNTS) for i in range(n)]


def test_workers_each_read_a_contiguous_chunk_and_the_loop_takes_them_round_robin():
    plan = StreamPlan((40,), 4, False, workers=3)  # 10 batches: chunks of 4, 3, 3
    assert [plan.batch_number(i) for i in range(10)] == [0, 4, 7, 1, 5, 8, 2, 6, 9, 3]
    assert plan.worker_share(0) == [0, 3, 6, 9]
    plan.set_epoch(0, start=4 * 4)  # resumed after 4 batches: worker 0 makes index 4, ...
    assert plan.worker_share(0) == [4, 7] and plan.worker_share(1) == [5, 8]
    assert plan.worker_share(2) == [6, 9]


def test_limit_and_drop_last_cut_the_rank_piece():
    plan = StreamPlan((10, 10), 4, True, drop_last=True)
    assert plan.epoch_batches() == 5 and len(plan) == 20
    plan.limit_to(8)
    assert plan.epoch_batches() == 2 and len(plan) == 8


@pytest.fixture(scope="module")
def shards(fmnist_root: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards") / "fmnist"
    write_shards(fmnist_root / "FashionMNIST" / "raw", out, shard_size=250)
    return out


def _data(shards: Path, task: str = "classification", pattern: str = "train-*.tar", **extra):
    from dltrain.data.build import build_data

    cfg = {
        "name": "webdataset", "train": f"{shards}/{pattern}", "val": "auto",
        "test": "auto", "val_split": 0.1, "shape": [1, 28, 28], "image_size": 28,
        "num_classes": 10, "normalize": True, "mean": None, "std": None, **extra,
    }  # fmt: skip
    return build_data(cfg, task)


def test_shard_verb_writes_every_sample_with_counts_and_stats(fmnist_root, shards):
    meta = json.loads((shards / "dataset.json").read_text())
    assert [s["samples"] for s in meta["splits"]["train"]["shards"]] == [250, 250, 100]
    assert meta["splits"]["test"]["samples"] == 200 and meta["num_classes"] == 10
    images, labels = read_split(fmnist_root / "FashionMNIST" / "raw", "train", 10)
    assert meta["mean"][0] == pytest.approx(images.mean() / 255.0)
    splits = _data(shards, pattern="train-{000000..000002}.tar", val_split=0.0, normalize=False)
    assert len(splits.train) == 600 and len(splits.test) == 200 and splits.val is None
    written = Counter()
    for i in range(len(splits.train)):
        image, label = splits.train[i]
        written[(image.mul(255).round().byte().numpy().tobytes(), int(label))] += 1
    assert written == Counter(
        (im.tobytes(), int(lb)) for im, lb in zip(images, labels, strict=True)
    )


def test_a_held_out_validation_split_is_fixed_and_disjoint(shards):
    splits = _data(shards)
    assert len(splits.train) + len(splits.val) == 600 and len(splits.val) == 60
    for shard in range(3):
        train, val = set(splits.train.kept(shard)), set(splits.val.kept(shard))
        assert not train & val and len(train | val) == splits.train.source.counts[shard]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_mid_epoch_start_continues_at_the_exact_sample(shards, workers):
    splits = _data(shards, train_transforms=[{"name": "random_crop", "size": 28, "padding": 4}])

    def batches(start: int) -> list:
        loader = stream_batches(splits.train, 32, workers, True, seed=3)
        loader.sampler.set_epoch(2, start=start)
        assert len(loader) == 17 - start // 32
        return list(loader)

    before = torch.get_rng_state()
    whole, resumed = batches(0), batches(5 * 32)
    assert torch.equal(torch.get_rng_state(), before)  # the dropout stream is left alone
    assert len(whole) == 17 and len(resumed) == 12
    for (x, y), (rx, ry) in zip(whole[5:], resumed, strict=True):
        assert torch.equal(x, rx) and torch.equal(y, ry)  # augmentation included


def test_segmentation_shards_hold_the_image_and_its_mask(fmnist_root, shards, tmp_path):
    out = tmp_path / "seg"
    write_shards(fmnist_root / "FashionMNIST" / "raw", out, 400, mask_threshold=0.5)
    splits = _data(out, "segmentation", val_split=0.0, normalize=False)
    assert splits.task == "segmentation"
    image, mask = splits.train[3]
    assert mask.shape == (1, 28, 28) and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(mask, (image > 0.5).float())
    with pytest.raises(UserError, match="hold no masks"):
        _data(shards, "segmentation")  # shards written without mask_threshold


def test_a_datasets_folder_round_trips(fmnist_root, tmp_path):
    pytest.importorskip("datasets")
    from dltrain.data.build import build_data

    out = tmp_path / "hf"
    write_shards(fmnist_root / "FashionMNIST" / "raw", out, 1000, output_format="hf")
    cfg = {
        "name": "hf", "path": str(out), "train_split": "train", "test_split": "test",
        "train_files": None, "test_files": None, "image_column": "image",
        "label_column": "label", "mask_column": "mask", "val_split": 0.1, "normalize": False,
        "mean": None, "std": None, "image_size": 28, "shape": [1, 28, 28], "num_classes": 10,
    }  # fmt: skip
    splits = build_data(cfg)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (540, 60, 200)
    images, labels = read_split(fmnist_root / "FashionMNIST" / "raw", "test", 10)
    firsts = {im.tobytes(): int(lb) for im, lb in zip(images, labels, strict=True)}
    image, label = splits.test[0]
    assert firsts[image.mul(255).round().byte().numpy()[0].tobytes()] == int(label)


def test_bad_shard_input_is_exit_2_and_writes_nothing(fmnist_root, tmp_path):
    out = tmp_path / "out"
    result = dltrain_in_process("shard", str(tmp_path / "nothing"), str(out))
    assert_refused(result, "is not a source dltrain shard reads")
    result = dltrain_in_process("shard", str(fmnist_root), str(out), "shard_size=0")
    assert_refused(result, "shard_size must be 1 or more")
    assert tree_state(out) is None
    result = dltrain_in_process("shard", str(fmnist_root), str(out), "format=zip")
    assert_refused(result, "format must be webdataset or hf")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    result = dltrain_in_process("shard", str(fmnist_root), str(tmp_path / "busy"))
    assert_refused(result, "is not an empty folder")


def test_a_pattern_without_shards_is_exit_2_naming_the_key(tmp_path):
    from dltrain.data.checks import check_data

    cfg = {"name": "webdataset", "train": f"{tmp_path}/train-{{0..3}}.tar", "shape": [1, 28, 28],
           "image_size": 28, "num_classes": 10}  # fmt: skip
    with pytest.raises(UserError, match=r"data.train=.*does not exist"):
        check_data(cfg)
