"""Batch augmentation on the training device: random per sample, deterministic, resumable.

What was chosen and why (measured on a 2-core CPU, one thread, a batch of 256 1x28x28 images):
torchvision's v2 transforms draw one set of parameters per call, so per-sample randomness needs
a Python loop over the batch (RandAugment ~90 ms, RandomAffine ~100 ms per batch, against
~60 ms for a whole training step of the tutorials' CNN). kornia's batched augmentations draw
per sample (RandomAffine ~7-9 ms), but its RandAugment and TrivialAugment pick one op for the
whole batch, fail on 1-channel images, draw from torch's global RNG and give magnitudes their
own meaning. So the ops here are a few vectorised torch ops each (one ``grid_sample`` for every
geometric op, per-sample blend factors for colour), following torchvision's formulas and using
torchvision's own augmentation spaces and batched functionals (``autocontrast``, ``equalize``)
where they exist, so a name means what it means on the torch DataLoader path. Every draw comes
from a generator seeded by (seed, epoch, rank, batch) (seeding.py), never the global RNG.

Modules: flips (flips, crop), warp (rotation, affine), color (colour ops, color_jitter), auto
(rand_augment, trivial_augment), erasing (random_erasing), mixing (mixup, cutmix, soft targets),
pipeline (which names have batch forms; the chain).
"""

from dltrain.data.augment.mixing import MixedBatches, Mixing, build_mixing, dominant_class
from dltrain.data.augment.pipeline import BATCH_AUGMENTATIONS, build_batch_augment, has_batch_forms
from dltrain.data.augment.seeding import batch_generator, batch_seed

__all__ = [
    "BATCH_AUGMENTATIONS",
    "MixedBatches",
    "Mixing",
    "batch_generator",
    "batch_seed",
    "build_batch_augment",
    "build_mixing",
    "dominant_class",
    "has_batch_forms",
]
