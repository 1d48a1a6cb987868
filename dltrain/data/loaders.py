"""Batches for a split: the in-memory path when the data allows it, torch's DataLoader else.

``data.loader=auto`` picks memory for data sets held as tensors whose training transforms all
have batch forms; ``memory`` insists (exit 2 if impossible); ``torch`` always uses DataLoader
(persistent workers, pinned memory and non_blocking copies on CUDA, seeded workers). Tar
shards (``data=webdataset``) are streamed: data/streaming/batches.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from dltrain.data.augment import (
    BATCH_AUGMENTATIONS,
    MixedBatches,
    build_batch_augment,
    build_mixing,
    has_batch_forms,
)
from dltrain.data.memory import MemoryBatches, tensor_source
from dltrain.data.sampler import EpochSampler
from dltrain.data.streaming.batches import ShardDataset, StreamBatches, stream_batches
from dltrain.distributed.context import DistContext
from dltrain.errors import UserError
from dltrain.train.seeding import seed_worker


def loader_kind(dataset: Dataset, data_cfg: Mapping[str, Any]) -> str:
    """memory or torch, as ``data.loader`` asks and the data set allows."""
    wanted = data_cfg.get("loader", "auto")
    transforms = data_cfg.get("train_transforms")
    possible = tensor_source(dataset) is not None and has_batch_forms(transforms)
    if wanted == "memory" and not possible:
        raise UserError(
            f"data.loader=memory needs a data set held in memory as tensors and transforms with "
            f"batch forms ({', '.join(BATCH_AUGMENTATIONS)}, mixup, cutmix; with the options "
            f"of their batch forms); data "
            f"'{data_cfg['name']}' with train_transforms={transforms} has none. Use "
            "data.loader=auto or torch."
        )
    if wanted == "torch" or not possible:
        return "torch"
    return "memory"


def build_loader(
    dataset: Dataset,
    data_cfg: Mapping[str, Any],
    train: bool,
    seed: int,
    device: torch.device,
    ctx: DistContext = DistContext(),
    kind: str = "torch",
    cache: dict[int, torch.Tensor] | None = None,
    shuffle: bool | None = None,
) -> DataLoader | MemoryBatches | StreamBatches | MixedBatches:
    """Training batches in the (seed, epoch) order; evaluation shards without padding.
    ``shuffle=False`` keeps training batches in the data set's order (overfit_batches).

    mixup/cutmix in ``data.train_transforms`` wrap the training batches of either kind in
    ``MixedBatches``: mixed on ``device`` after collation, from a per-batch seeded stream."""
    shuffle = train if shuffle is None else shuffle
    batches = _batches(dataset, data_cfg, train, shuffle, seed, device, ctx, kind, cache)
    mixing = build_mixing(data_cfg.get("train_transforms"), data_cfg.get("num_classes", 0))
    if not train or mixing is None:
        return batches
    return MixedBatches(batches, mixing, seed, ctx.rank, data_cfg["batch_size"], device)


def _batches(
    dataset: Dataset,
    data_cfg: Mapping[str, Any],
    train: bool,
    shuffle: bool,
    seed: int,
    device: torch.device,
    ctx: DistContext,
    kind: str,
    cache: dict[int, torch.Tensor] | None,
) -> DataLoader | MemoryBatches | StreamBatches:
    drop_last = train and data_cfg.get("drop_last", False)
    workers = data_cfg.get("num_workers", 0)
    if isinstance(dataset, ShardDataset):
        return stream_batches(
            dataset, data_cfg["batch_size"], workers, shuffle, seed, ctx.rank, ctx.world_size,
            train, drop_last, pin_memory=device.type == "cuda",
        )  # fmt: skip
    sampler = EpochSampler(
        len(dataset), shuffle, seed=seed, rank=ctx.rank, world_size=ctx.world_size, pad=train
    )
    if kind == "memory" and tensor_source(dataset) is not None:
        source = tensor_source(dataset).to(device, cache if cache is not None else {})
        augment = build_batch_augment(data_cfg.get("train_transforms")) if train else None
        return MemoryBatches(
            source, data_cfg["batch_size"], sampler, drop_last, augment, seed + ctx.rank
        )
    return DataLoader(
        dataset,
        batch_size=data_cfg["batch_size"],
        sampler=sampler,
        drop_last=drop_last,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.type == "cuda",
        worker_init_fn=seed_worker if workers > 0 else None,
        generator=torch.Generator().manual_seed(seed + ctx.rank),
    )
