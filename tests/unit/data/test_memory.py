"""MemoryBatches: batches are index gathers in the sampler's order, seeded augmentation, resume."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from dltrain.data.memory import MemoryBatches, tensor_source
from dltrain.data.sampler import EpochSampler


def _tensors(count: int = 23):
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(count, 3, generator=generator)
    targets = torch.arange(count)
    return inputs, targets


def _batches(dataset, batch_size=4, epoch=0, start=0, seed=0, augment=None, drop_last=False):
    sampler = EpochSampler(len(dataset), shuffle=True, seed=seed)
    sampler.set_epoch(epoch, start=start)
    loader = MemoryBatches(
        tensor_source(dataset), batch_size, sampler, drop_last, augment=augment, seed=seed
    )
    return sampler, loader, list(loader)


@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_index_the_tensors_in_the_samplers_order(drop_last: bool):
    inputs, targets = _tensors()
    sampler, loader, batches = _batches(TensorDataset(inputs, targets), drop_last=drop_last)
    order = torch.tensor(list(sampler))
    expected = 23 // 4 if drop_last else -(-23 // 4)
    assert len(batches) == len(loader) == expected
    for number, (x, y) in enumerate(batches):
        picked = order[number * 4 : (number + 1) * 4]
        torch.testing.assert_close(x, inputs[picked], rtol=0, atol=0)
        assert torch.equal(y, targets[picked])
    seen = torch.cat([y for _, y in batches])
    assert len(seen) == (20 if drop_last else 23) and len(set(seen.tolist())) == len(seen)


def test_subsets_map_through_their_rows():
    inputs, targets = _tensors()
    subset = Subset(Subset(TensorDataset(inputs, targets), list(range(3, 23))), [5, 1, 7, 2])
    sampler, _, batches = _batches(subset, batch_size=3)
    rows = torch.tensor([3 + i for i in (5, 1, 7, 2)])
    expected = rows[torch.tensor(list(sampler))]
    assert torch.equal(torch.cat([y for _, y in batches]), targets[expected])


def _noise(pair, generator: torch.Generator):
    inputs, masks = pair
    noise = torch.rand(inputs.shape, generator=generator, device=inputs.device)
    return inputs + noise, masks


def _images(count: int = 20):
    from dltrain.data.base import ImageTensorDataset, image_pipeline

    cfg = {"image_size": None, "mask_threshold": None}
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (count, 1, 6, 6), dtype=torch.uint8, generator=generator)
    pipeline = image_pipeline(cfg, 1, ((0.5,), (0.25,)), "classification")
    return ImageTensorDataset(images, torch.arange(count), pipeline=pipeline)


def test_augmentation_is_deterministic_under_a_seed():
    dataset = _images()
    _, _, first = _batches(dataset, seed=3, augment=_noise)
    _, _, again = _batches(dataset, seed=3, augment=_noise)
    _, _, other = _batches(dataset, seed=4, augment=_noise)
    _, _, plain = _batches(dataset, seed=3)
    for (a, ya), (b, yb), (p, _) in zip(first, again, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert torch.equal(ya, yb)
        assert not torch.equal(a, p), "the augmentation ran"
    assert not all(torch.equal(a, o) for (a, _), (o, _) in zip(first, other, strict=False))
    # uint8 images become floats in [0, 1], then (x - mean) / std
    sampler, _, plain = _batches(dataset, seed=3)
    order = torch.tensor(list(sampler))[:4]
    expected = (dataset.images[order].float() / 255.0 - 0.5) / 0.25
    torch.testing.assert_close(plain[0][0], expected)


@pytest.mark.parametrize("start", [4, 8, 16])
def test_resume_mid_epoch_gives_the_same_remaining_batches(start: int):
    dataset = _images()
    _, _, whole = _batches(dataset, epoch=2, seed=9, augment=_noise)
    _, loader, rest = _batches(dataset, epoch=2, seed=9, augment=_noise, start=start)
    done = start // 4
    assert len(loader) == len(whole) - done
    for (a, ya), (b, yb) in zip(whole[done:], rest, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert torch.equal(ya, yb)


def test_images_decoded_per_sample_have_no_tensor_to_slice(tmp_path):
    """data.in_memory=false: LazyImages go to torch's DataLoader (memory batches cannot)."""
    from dltrain.data.base import ImageTensorDataset
    from dltrain.data.imagefolder import LazyImages
    from dltrain.testing.fake_data import write_fake_imagefolder

    root = write_fake_imagefolder(tmp_path, per_class=2, splits=("train",))
    paths = sorted((root / "train").rglob("*.png"))
    dataset = ImageTensorDataset(LazyImages(paths, 3, 8), torch.zeros(len(paths)), [0.5] * 3,
                                 [0.5] * 3)  # fmt: skip
    assert tensor_source(Subset(dataset, [0, 1])) is None
    assert dataset[0][0].shape == (3, 8, 8)
