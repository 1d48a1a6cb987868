"""``data=hf``: a Hugging Face ``datasets`` folder (``save_to_disk``) or parquet files, offline.

The Arrow tables are memory-mapped, never loaded whole: a sample is read and decoded when it
is indexed, in the DataLoader workers. Random access into Arrow is cheap, so these use the
usual sampler (data/sampler.py): every sample once per epoch, the order randperm(seed +
epoch) split across ranks and workers, and a resumed run continues at the exact sample, as
any map-style data set does. Columns: ``data.image_column`` (an Image feature, or bytes),
``data.label_column`` (class index) and, for segmentation, ``data.mask_column``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from dltrain.data.base import DataSplits, image_splits
from dltrain.data.streaming.shard_files import METADATA, expand, requirement
from dltrain.data.streaming.tar_reader import decode_image, decode_mask
from dltrain.data.transforms import SamplePipeline
from dltrain.errors import UserError
from dltrain.registry import DATA

STATS_SAMPLE = 1000


def _offline() -> None:
    """Read local files only: no download of scripts, no hub lookups."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_split(cfg: Mapping[str, Any], key: str) -> Any | None:
    """Split ``key`` (train, test) as a datasets.Dataset, or None when there is none."""
    _offline()
    datasets = requirement("datasets")

    files = cfg.get(f"{key}_files")
    if files:
        paths = [str(p) for p in expand(files, f"{key}_files")]
        return datasets.Dataset.from_parquet(
            paths, cache_dir=str(Path(paths[0]).parent / ".hf-cache")
        )
    if cfg.get("train_files"):  # parquet for train only: no such split
        return None
    name = cfg.get(f"{key}_split")
    if name is None:
        return None
    loaded = datasets.load_from_disk(str(Path(cfg["path"]).expanduser()))
    if isinstance(loaded, datasets.Dataset):
        return loaded if key == "train" else None
    if name not in loaded:
        if key == "test":
            return None
        raise UserError(
            f"data.path={cfg['path']} has no split '{name}' (it has {', '.join(loaded)}). "
            f"Set data.{key}_split."
        )
    return loaded[name]


def check_hf(cfg: Mapping[str, Any]) -> None:
    """The folder or parquet files are there and hold the columns the config names."""
    if cfg.get("loader") == "memory":
        raise UserError(
            "data=hf reads samples from Arrow files as they are used; data.loader=memory "
            "needs tensors in memory. Set data.loader=auto."
        )
    if not cfg.get("train_files"):
        path = Path(cfg["path"]).expanduser()
        if not path.is_dir():
            raise UserError(
                f"data.path={path} is not a folder. Point it at a folder written by datasets' "
                "save_to_disk (dltrain shard SRC OUT format=hf writes one), or set "
                "data.train_files to parquet files."
            )
    try:
        train = load_split(cfg, "train")
    except (FileNotFoundError, ValueError) as err:
        raise UserError(f"cannot read the data=hf training split: {err}") from None
    missing = [c for c in (cfg["image_column"], cfg["label_column"]) if c not in train.column_names]
    if missing:
        raise UserError(
            f"the data=hf training split has no column {missing[0]} (it has "
            f"{', '.join(train.column_names)}). Set data.image_column / data.label_column."
        )


class ArrowImages(Dataset):
    """Rows of a datasets.Dataset decoded into (image, label or mask) as they are indexed."""

    def __init__(
        self, table: Any, cfg: Mapping[str, Any], pipeline: SamplePipeline, with_mask: bool
    ) -> None:
        from datasets import Image

        columns = [cfg["image_column"]] + ([cfg["mask_column"]] if with_mask else [])
        for column in columns:
            table = table.cast_column(column, Image(decode=False))
        self.table, self.pipeline, self.with_mask = table, pipeline, with_mask
        self.columns = (cfg["image_column"], cfg["label_column"], cfg.get("mask_column"))
        self.channels, self.size = cfg["shape"][0], cfg.get("image_size")

    @property
    def task(self) -> str:
        return "segmentation" if self.with_mask else "classification"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.channels, self.size, self.size)

    def with_augment(self, augment: Callable | None) -> ArrowImages:
        view = copy.copy(self)
        view.pipeline = self.pipeline.with_augment(augment)
        return view

    def __len__(self) -> int:
        return len(self.table)

    def stored(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        row = self.table[index]
        image = row[self.columns[0]]
        data = image["bytes"] if isinstance(image, dict) else image
        return decode_image(data, self.channels, self.size, f"row {index}"), row

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        stored, row = self.stored(index)
        if self.with_mask:
            mask_value = row[self.columns[2]]
            data = mask_value["bytes"] if isinstance(mask_value, dict) else mask_value
            return self.pipeline(stored, mask=decode_mask(data, stored.shape[-2:], f"row {index}"))
        image, _ = self.pipeline(stored)
        return image, torch.tensor(int(row[self.columns[1]]))


def _stats(cfg: Mapping[str, Any], train: ArrowImages) -> tuple[Any, Any]:
    if not cfg.get("normalize", True):
        return None, None
    if cfg.get("mean") and cfg.get("std"):
        return cfg["mean"], cfg["std"]
    meta_file = Path(cfg["path"]).expanduser() / METADATA
    if not cfg.get("train_files") and meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if len(meta.get("mean") or []) == train.channels:
            return meta["mean"], meta["std"]
    picks = torch.linspace(0, len(train) - 1, min(len(train), STATS_SAMPLE)).long().tolist()
    images = torch.stack([train.stored(i)[0] for i in picks]).double() / 255.0
    return images.mean(dim=(0, 2, 3)).tolist(), images.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()


@DATA.register("hf", tasks={"classification", "segmentation"}, check=check_hf)
def hf(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    with_mask = task == "segmentation"
    channels, size = cfg["shape"][0], cfg.get("image_size")
    plain = SamplePipeline.create(channels, None, None, size)
    train = ArrowImages(load_split(cfg, "train"), cfg, plain, with_mask)
    mean, std = _stats(cfg, train)
    pipeline = SamplePipeline.create(channels, mean, std, size)
    train.pipeline = pipeline
    test_table = load_split(cfg, "test")
    test = ArrowImages(test_table, cfg, pipeline, with_mask) if test_table is not None else None
    return image_splits(cfg, train, test, cfg["num_classes"])
