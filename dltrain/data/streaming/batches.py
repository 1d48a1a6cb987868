"""A split of tar shards as a data set, and its resumable batches for the training loop.

``ShardDataset`` is one split: the shards, which of their samples it keeps (a validation split
held out of the training shards keeps a fixed random part of each shard), and the sample
pipeline. Indexed (``dataset[i]``, for predict and plots) it reads the shard that holds sample
i; streamed (``StreamBatches``, what the loaders use) each rank and worker reads its shards once
in the epoch's order (plan.py). Decoding and the per-sample augmentation run in the DataLoader
workers, each batch's augmentation from a generator seeded by (seed, epoch, rank, batch), so a
resumed run draws what the uninterrupted run drew.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, default_collate, get_worker_info

from dltrain.data.augment.seeding import batch_seed
from dltrain.data.streaming.plan import StreamPlan
from dltrain.data.streaming.tar_reader import (
    MASK_KEY,
    Raw,
    decode_image,
    decode_label,
    decode_mask,
    image_key,
    read_shard,
)
from dltrain.data.transforms import SamplePipeline
from dltrain.errors import RunError, UserError

SPLIT_SEED = 0  # the held-out validation samples do not move when the run's seed changes
_PRIME = 1_000_003

Example = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ShardSource:
    """The shards of a split and how their samples decode (picklable for the workers)."""

    paths: tuple[Path, ...]
    counts: tuple[int, ...]  # samples in each tar
    channels: int
    size: int | None  # decoded images are size x size (None: each file's own size)
    with_mask: bool  # segmentation: the target is the sample's mask.png


class ShardCache:
    """The raw samples of the shard last read (one shard's bytes per process)."""

    def __init__(self) -> None:
        self.shard, self.samples = -1, []

    def get(self, source: ShardSource, shard: int, index: int) -> Raw:
        if shard != self.shard:
            self.shard, self.samples = -1, []  # free the old shard before reading the new
            self.samples = read_shard(source.paths[shard], source.counts[shard])
            self.shard = shard
        return self.samples[index]


class ShardDataset(Dataset):
    """One split of tar shards: ``part`` all, or the ``train``/``val`` side of a hold-out."""

    def __init__(
        self,
        source: ShardSource,
        pipeline: SamplePipeline,
        part: str = "all",
        val_fraction: float = 0.0,
    ) -> None:
        self.source, self.pipeline = source, pipeline
        self.part, self.val_fraction = part, val_fraction
        self._cache, self._kept = ShardCache(), (-1, [])
        self.kept_counts = tuple(len(self.kept(s)) for s in range(len(source.paths)))

    def kept(self, shard: int) -> list[int]:
        """The tar positions of the shard's samples this split keeps."""
        if self._kept[0] == shard:
            return self._kept[1]
        count = self.source.counts[shard]
        if self.part == "all":
            return list(range(count))
        held = round(count * self.val_fraction)
        generator = torch.Generator().manual_seed(SPLIT_SEED * _PRIME + shard)
        order = torch.randperm(count, generator=generator)
        chosen = order[:held] if self.part == "val" else order[held:]
        kept = sorted(chosen.tolist())
        self._kept = (shard, kept)
        return kept

    def hold_out(self, fraction: float) -> tuple[ShardDataset, ShardDataset | None]:
        """(training part, validation part): ``fraction`` of each shard's samples held out."""
        if fraction <= 0:
            return self, None
        train = ShardDataset(self.source, self.pipeline, "train", fraction)
        val = ShardDataset(self.source, self.pipeline, "val", fraction)
        if not len(train):
            raise UserError(
                f"data.val_split={fraction} leaves no training samples out of {len(self)}."
            )
        return train, (val if len(val) else None)

    @property
    def task(self) -> str:
        return "segmentation" if self.source.with_mask else "classification"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        size = self.pipeline.size or self.source.size
        return (self.source.channels, size, size)

    def with_augment(self, augment: Callable | None) -> ShardDataset:
        """The same split with training augmentation."""
        view = copy.copy(self)
        view.pipeline = self.pipeline.with_augment(augment)
        view._cache = ShardCache()
        return view

    def __len__(self) -> int:
        return sum(self.kept_counts)

    def __getitem__(self, index: int) -> Example:
        """Sample ``index`` in shard order (random access reads its shard: slow, for a few)."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        shard = 0
        while index >= self.kept_counts[shard]:
            index -= self.kept_counts[shard]
            shard += 1
        return self.example(shard, index, self._cache)

    def example(self, shard: int, index: int, cache: ShardCache) -> Example:
        """The ``index``-th kept sample of ``shard``, decoded, through the pipeline."""
        raw = cache.get(self.source, shard, self.kept(shard)[index])
        where = f"{raw.get('__url__')}:{raw.get('__key__')}"
        source = self.source
        stored = decode_image(raw[image_key(raw)], source.channels, source.size, where)
        if source.with_mask:
            if MASK_KEY not in raw:
                raise RunError(
                    f"{where} has no {MASK_KEY}: segmentation shards need an image and its mask "
                    "in each sample (dltrain shard ... mask_threshold=0.5 writes them)."
                )
            mask = decode_mask(raw[MASK_KEY], stored.shape[-2:], where)
            image, mask = self.pipeline(stored, mask=mask)
            return image, mask
        image, _ = self.pipeline(stored)
        return image, torch.tensor(decode_label(raw))


class _WorkerStream(IterableDataset):
    """What one DataLoader worker (or this process, without workers) makes: its share of the
    rank's batches, in the order the loop takes them."""

    def __init__(self, dataset: ShardDataset, plan: StreamPlan, seed: int) -> None:
        self.dataset, self.plan, self.seed = dataset, plan, seed

    def __iter__(self) -> Iterator[Example]:
        info = get_worker_info()
        plan, cache = self.plan, ShardCache()
        for index in plan.worker_share(info.id if info is not None else 0):
            positions = plan.positions(plan.batch_number(index))
            with torch.random.fork_rng(devices=[]):  # the process's own stream stays as it was
                torch.manual_seed(batch_seed(self.seed, plan.epoch, plan.rank, index))
                batch = [self.dataset.example(*plan.locate(p), cache) for p in positions]
            yield default_collate(batch)


class StreamBatches:
    """A split's batches streamed from its shards; resumable at any batch via ``sampler``
    (``workers`` DataLoader processes decode; 0: this process does)."""

    def __init__(
        self,
        dataset: ShardDataset,
        plan: StreamPlan,
        seed: int,
        workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        self.dataset, self.sampler, self.seed = dataset, plan, seed
        self.workers, self.pin_memory = workers, pin_memory

    def __len__(self) -> int:
        """Batches still to come in the epoch."""
        plan = self.sampler
        return max(plan.epoch_batches() - plan.start // plan.batch_size, 0)

    def __iter__(self) -> Iterator[Example]:
        # New workers each epoch: they take the epoch and start position with the plan.
        stream = _WorkerStream(self.dataset, copy.copy(self.sampler), self.seed)
        if self.workers == 0:
            return iter(stream)
        # Its own generator: making the workers must not draw from the process's RNG, or a
        # run resumed mid-epoch (workers made mid-epoch) would shift its dropout stream.
        loader = DataLoader(
            stream,
            batch_size=None,
            num_workers=self.workers,
            pin_memory=self.pin_memory,
            generator=torch.Generator().manual_seed(self.seed),
        )
        return iter(loader)


def stream_batches(
    dataset: ShardDataset,
    batch_size: int,
    workers: int,
    shuffle: bool,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    train: bool = True,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> StreamBatches:
    """The batches of ``dataset`` for this rank: training pads the ranks' pieces to equal
    lengths, evaluation splits the samples exactly."""
    plan = StreamPlan(
        dataset.kept_counts, batch_size, shuffle, seed, rank, world_size,
        pad=train, drop_last=drop_last, workers=workers,
    )  # fmt: skip
    return StreamBatches(dataset, plan, seed + rank, workers, pin_memory)
