"""``data=webdataset``: tar shards in the WebDataset layout, streamed, never loaded whole.

Each sample is ``<key>.png|jpg|...`` (the image), ``<key>.cls`` (its class) and, for a
segmentation model, ``<key>.mask.png``; ``dltrain shard SRC OUT`` writes such shards with a
``dataset.json`` (sample counts, classes, shape, mean/std). The tar reading is the
``webdataset`` library's (webdataset.tariterators: the layout's reference reader, kept by its
authors alongside the format); which samples each rank and worker reads, in which order, and
where a resumed run continues are dltrain's (data/streaming/plan.py says why).

``data.val`` / ``data.test``: ``auto`` takes the split that dataset.json lists beside the
training shards (else: no test split, and ``data.val_split`` of each training shard held out),
null none, or a pattern.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from dltrain.data.base import DataSplits
from dltrain.data.streaming.batches import ShardDataset, ShardSource
from dltrain.data.streaming.shard_files import ShardSet, shard_set
from dltrain.data.streaming.tar_reader import decode_image, image_key, read_shard
from dltrain.data.transforms import SamplePipeline, build_augment, dry_run
from dltrain.errors import UserError
from dltrain.registry import DATA

STATS_SAMPLE = 1000  # images of the first shard that estimate mean/std without dataset.json


def split_pattern(cfg: Mapping[str, Any], key: str, train: ShardSet) -> str | None:
    """The pattern of split ``key`` (val, test): given, none, or dataset.json's (auto)."""
    value = cfg.get(key)
    if value != "auto":
        return value
    listed = train.metadata.get("splits", {}).get(key)
    if not listed:
        return None
    folder = train.paths[0].parent
    return "::".join(str(folder / shard["file"]) for shard in listed["shards"])


def check_webdataset(cfg: Mapping[str, Any]) -> None:
    """The shards are there and readable as tars, and agree with data.num_classes."""
    if cfg.get("loader") == "memory":
        raise UserError(
            "data.loader=memory slices batches from data held in memory, but data=webdataset "
            "streams its shards. Set data.loader=auto (or torch)."
        )
    shape, size = list(cfg["shape"]), cfg.get("image_size")
    if shape[0] not in (1, 3) or (size is not None and shape[1:] != [size, size]):
        raise UserError(
            f"data.shape={shape} must be [1 or 3 channels, data.image_size, data.image_size] "
            f"(data.image_size={size})."
        )
    if not 0.0 <= cfg.get("val_split", 0.0) < 1.0:
        raise UserError(f"data.val_split must be in [0, 1), got {cfg['val_split']}.")
    train = shard_set(cfg["train"], "train")
    if train.samples == 0:
        raise UserError(f"data.train={cfg['train']} holds no samples.")
    for key in ("val", "test"):
        pattern = split_pattern(cfg, key, train)
        if pattern is not None:
            shard_set(pattern, key)
    classes = train.metadata.get("classes")
    if classes and len(classes) != cfg["num_classes"]:
        raise UserError(
            f"the shards' dataset.json lists {len(classes)} classes but data.num_classes="
            f"{cfg['num_classes']}. Set data.num_classes={len(classes)}."
        )


def _stats(cfg: Mapping[str, Any], train: ShardSet, channels: int) -> tuple[list, list] | None:
    """Per-channel mean and std: data.mean/std, dataset.json's, or from the first shard."""
    if not cfg.get("normalize", True):
        return None
    if cfg.get("mean") and cfg.get("std"):
        return list(cfg["mean"]), list(cfg["std"])
    meta = train.metadata
    if meta.get("mean") and len(meta["mean"]) == channels:
        return list(meta["mean"]), list(meta["std"])
    samples = read_shard(train.paths[0])[:STATS_SAMPLE]
    images = (
        torch.stack(
            [
                decode_image(s[image_key(s)], channels, cfg.get("image_size"), str(s))
                for s in samples
            ]
        ).double()
        / 255.0
    )
    return images.mean(dim=(0, 2, 3)).tolist(), images.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()


def _split(pattern: str, key: str, cfg: Mapping[str, Any], pipeline: SamplePipeline, task: str):
    shards = shard_set(pattern, key)
    if task == "segmentation" and shards.metadata.get("mask") is False:
        raise UserError(
            f"data.{key}: these shards hold no masks (dataset.json: mask false), so they have "
            "no segmentation targets. Write them with masks: dltrain shard SRC OUT "
            "mask_threshold=0.5"
        )
    source = ShardSource(
        shards.paths, shards.counts, cfg["shape"][0], cfg.get("image_size"),
        task == "segmentation",
    )  # fmt: skip
    return ShardDataset(source, pipeline)


@DATA.register("webdataset", tasks={"classification", "segmentation"}, check=check_webdataset)
def webdataset(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    train_set = shard_set(cfg["train"], "train")
    channels = cfg["shape"][0]
    stats = _stats(cfg, train_set, channels)
    mean, std = stats if stats is not None else (None, None)
    pipeline = SamplePipeline.create(channels, mean, std, cfg.get("image_size"))
    train = _split(cfg["train"], "train", cfg, pipeline, task)
    val_pattern = split_pattern(cfg, "val", train_set)
    if val_pattern is not None:
        val = _split(val_pattern, "val", cfg, pipeline, task)
    else:
        train, val = train.hold_out(cfg.get("val_split", 0.0))
    test_pattern = split_pattern(cfg, "test", train_set)
    test = _split(test_pattern, "test", cfg, pipeline, task) if test_pattern else None
    augment = build_augment(cfg.get("train_transforms"))
    if augment is not None:
        dry_run(augment, train.sample_shape, task == "segmentation")
        train = train.with_augment(augment)
    return DataSplits(train=train, val=val, test=test, num_classes=cfg["num_classes"], task=task)
