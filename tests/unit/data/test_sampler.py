"""EpochSampler: one permutation per (seed, epoch), rank shards, exact mid-epoch resume."""

from __future__ import annotations

import pytest

from dltrain.data.sampler import EpochSampler


def _epoch(size: int, epoch: int = 0, **options) -> list[int]:
    sampler = EpochSampler(size, **options)
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_index_once_per_epoch(shuffle: bool):
    for epoch in range(3):
        order = _epoch(37, epoch, shuffle=shuffle, seed=5)
        assert sorted(order) == list(range(37))
        assert len(EpochSampler(37, shuffle=shuffle)) == 37
    assert _epoch(10, 4, shuffle=False) == list(range(10))


def test_order_is_a_function_of_seed_and_epoch():
    assert _epoch(50, 2, shuffle=True, seed=7) == _epoch(50, 2, shuffle=True, seed=7)
    assert _epoch(50, 2, shuffle=True, seed=7) != _epoch(50, 3, shuffle=True, seed=7)
    assert _epoch(50, 2, shuffle=True, seed=7) != _epoch(50, 2, shuffle=True, seed=8)
    # seed + epoch picks the permutation, as DistributedSampler does
    assert _epoch(50, 3, shuffle=True, seed=7) == _epoch(50, 0, shuffle=True, seed=10)


@pytest.mark.parametrize(("size", "world_size"), [(40, 4), (37, 4), (5, 3), (12, 1)])
def test_rank_shards_are_disjoint_and_cover_the_epoch(size: int, world_size: int):
    full = _epoch(size, 1, shuffle=True, seed=3)
    shards = [
        _epoch(size, 1, shuffle=True, seed=3, rank=rank, world_size=world_size)
        for rank in range(world_size)
    ]
    assert len({len(shard) for shard in shards}) == 1, "padded to equal shards"
    assert set().union(*shards) == set(range(size))
    padding = len(shards[0]) * world_size - size
    assert 0 <= padding < world_size
    # without the padding the shards are disjoint: the order's positions dealt round-robin
    dealt = [full[rank::world_size] for rank in range(world_size)]
    for rank in range(world_size):
        assert shards[rank][: len(dealt[rank])] == dealt[rank]
    flat = [index for shard in dealt for index in shard]
    assert sorted(flat) == list(range(size))
    # world_size 1 is the single-process order
    assert _epoch(size, 1, shuffle=True, seed=3, rank=0, world_size=1) == full


def test_unpadded_shards_are_disjoint():
    shards = [_epoch(37, 0, shuffle=True, rank=rank, world_size=4, pad=False) for rank in range(4)]
    flat = [index for shard in shards for index in shard]
    assert sorted(flat) == list(range(37))


@pytest.mark.parametrize("start", [0, 1, 9, 25, 26])
@pytest.mark.parametrize(("rank", "world_size"), [(0, 1), (1, 2)])
def test_set_epoch_with_start_resumes_mid_epoch_exactly(start: int, rank: int, world_size: int):
    sampler = EpochSampler(52, shuffle=True, seed=11, rank=rank, world_size=world_size)
    sampler.set_epoch(4)
    whole = list(sampler)
    resumed = EpochSampler(52, shuffle=True, seed=11, rank=rank, world_size=world_size)
    resumed.set_epoch(4, start=start)
    assert list(resumed) == whole[start:]
    assert len(resumed) == len(whole) - start
    resumed.set_epoch(5)  # the next epoch starts from its beginning again
    assert len(resumed) == len(whole)
