"""The batch forms of ``data.train_transforms``: which names have one, and the chain of them.

A name here takes a subset of its torchvision class's options (the names and defaults of
``transform_names.AUGMENTATIONS``), so a config works on both loader paths: ``data.loader=auto``
takes the in-memory path when every listed transform has a batch form with the options given,
and torch's DataLoader with torchvision's per-sample transforms otherwise. mixup and cutmix
are batch ops on both paths (mixing.py) and are not part of the image chain.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from dltrain.data.augment.auto import rand_augment, trivial_augment
from dltrain.data.augment.color import color_jitter
from dltrain.data.augment.erasing import random_erasing
from dltrain.data.augment.flips import horizontal_flip, random_crop, vertical_flip
from dltrain.data.augment.types import Batch, BatchOp
from dltrain.data.augment.warp import random_affine, random_rotation
from dltrain.data.transform_names import MIXING

BATCH_AUGMENTATIONS: dict[str, Callable[..., BatchOp]] = {
    "horizontal_flip": horizontal_flip,
    "vertical_flip": vertical_flip,
    "random_crop": random_crop,
    "random_rotation": random_rotation,
    "random_affine": random_affine,
    "color_jitter": color_jitter,
    "random_erasing": random_erasing,
    "rand_augment": rand_augment,
    "trivial_augment": trivial_augment,
}


def has_batch_forms(specs: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether every transform listed (name and options) has a batch form here."""
    for spec in specs or []:
        if spec["name"] in MIXING:
            continue
        builder = BATCH_AUGMENTATIONS.get(spec["name"])
        options = set(spec) - {"name"}
        if builder is None or not options <= set(inspect.signature(builder).parameters):
            return False
    return True


def build_batch_augment(specs: Sequence[Mapping[str, Any]] | None) -> BatchOp | None:
    """The listed image ops (not mixup/cutmix) chained, each drawing from the batch generator."""
    steps = [
        BATCH_AUGMENTATIONS[spec["name"]](**{k: v for k, v in spec.items() if k != "name"})
        for spec in specs or []
        if spec["name"] not in MIXING
    ]
    if not steps:
        return None

    def apply(batch: Batch, generator: torch.Generator) -> Batch:
        for step in steps:
            batch = step(batch, generator)
        return batch

    return apply
