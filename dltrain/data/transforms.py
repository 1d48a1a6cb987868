"""From a stored image to a model input (and a mask target): resize, augment, normalise.

The data module owns every conversion, so a config lists only augmentations
(``data.train_transforms``) and they see one known input: a float image in [0, 1] as a
``tv_tensors.Image``, with the segmentation mask as a ``tv_tensors.Mask`` beside it, so
geometric transforms move image and mask together and colour transforms leave the mask alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from dltrain.data.transform_names import (
    AUGMENTATIONS,
    CONTAINERS,
    check_transform_specs,
    per_sample_specs,
)
from dltrain.errors import UserError

if TYPE_CHECKING:  # torchvision is imported when used: it costs ~1 s (torch._dynamo) at start-up
    from torchvision.transforms import v2


def _build_one(spec: Mapping[str, Any]) -> v2.Transform:
    from torchvision.transforms import v2

    name = spec["name"]
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    if name in CONTAINERS:
        kwargs["transforms"] = [_build_one(s) for s in kwargs.get("transforms", [])]
    try:
        return getattr(v2, AUGMENTATIONS[name])(**kwargs)
    except (TypeError, ValueError) as err:
        raise UserError(
            f"data.train_transforms: cannot build '{name}' from {dict(spec)}: {err}"
        ) from None


def build_augment(specs: Sequence[Mapping[str, Any]] | None) -> v2.Compose | None:
    """The v2 pipeline a list of ``{name: ..., args}`` specs names, or None for an empty list
    (mixup and cutmix are batch ops, applied after collation: data/augment/mixing.py)."""
    if not specs:
        return None
    from torchvision.transforms import v2

    check_transform_specs(list(specs))
    per_sample = per_sample_specs(specs)
    return v2.Compose([_build_one(spec) for spec in per_sample]) if per_sample else None


def dry_run(augment: Callable, shape: Sequence[int], with_mask: bool) -> None:
    """Apply ``augment`` once to a blank sample of the data set's shape: a misfit is exit 2 now,
    not an exception in a loader worker later (e.g. hue on 1-channel, AutoAugment on masks)."""
    from torchvision import tv_tensors

    image = tv_tensors.Image(torch.full(tuple(shape), 0.5))
    mask = tv_tensors.Mask(torch.zeros(1, *shape[1:], dtype=torch.uint8))
    try:
        augment(image, mask) if with_mask else augment(image)
    except Exception as err:  # noqa: BLE001 - any failure means "does not fit this data"
        task = "segmentation images and masks" if with_mask else "images"
        raise UserError(
            f"data.train_transforms do not work on this data set's {'x'.join(map(str, shape))} "
            f"{task}: {type(err).__name__}: {err}"
        ) from None


@dataclass(frozen=True)
class SamplePipeline:
    """Stored image (uint8, or float in [0, 1]; C x H x W) -> normalised float input, mask.

    ``mask_threshold`` set: the target is the foreground mask, pixel intensity above it after
    resizing and before augmentation, as a float tensor of shape 1 x H x W.
    """

    mean: torch.Tensor  # C x 1 x 1
    std: torch.Tensor
    size: int | None = None
    augment: Callable | None = None
    mask_threshold: float | None = None

    @classmethod
    def create(
        cls,
        channels: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        size: int | None = None,
        mask_threshold: float | None = None,
    ) -> SamplePipeline:
        mean_t = torch.tensor(list(mean) if mean is not None else [0.0] * channels)
        std_t = torch.tensor(list(std) if std is not None else [1.0] * channels)
        if mean_t.numel() != channels or std_t.numel() != channels:
            raise UserError(
                f"data.mean and data.std need {channels} value(s), one per channel; "
                f"got {mean_t.tolist()} and {std_t.tolist()}."
            )
        return cls(mean_t.view(-1, 1, 1), std_t.view(-1, 1, 1), size, None, mask_threshold)

    def with_augment(self, augment: Callable | None) -> SamplePipeline:
        return replace(self, augment=augment)

    def __call__(
        self, stored: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``mask``: a stored 1 x H x W uint8 mask of 0/1 (shards hold one beside the image),
        resized with the image (nearest) and moved by its augmentation."""
        from torchvision import tv_tensors
        from torchvision.transforms.v2 import functional as TF

        image = stored
        if self.size is not None and tuple(image.shape[-2:]) != (self.size, self.size):
            image = TF.resize(image, [self.size, self.size], antialias=True)
            if image.is_floating_point():
                image = image.clamp(0.0, 1.0)  # antialiasing may overshoot a little
            if mask is not None:
                mask = TF.resize(mask, [self.size, self.size], TF.InterpolationMode.NEAREST)
        image = TF.to_dtype(image, torch.float32, scale=True)
        if self.mask_threshold is not None:
            mask = (image.amax(dim=0, keepdim=True) > self.mask_threshold).to(torch.uint8)
        if self.augment is not None:
            if mask is None:
                image = self.augment(tv_tensors.Image(image))
            else:
                image, mask = self.augment(tv_tensors.Image(image), tv_tensors.Mask(mask))
            image = image.as_subclass(torch.Tensor)
        image = (image - self.mean) / self.std
        if mask is not None:
            mask = mask.as_subclass(torch.Tensor).float()
        return image, mask
