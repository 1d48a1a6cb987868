"""rand_augment and trivial_augment as batch ops: every sample picks its own ops and signs.

The op list and the magnitude of every bin are torchvision's own (``_AUGMENTATION_SPACE`` of
``v2.RandAugment`` and ``v2.TrivialAugmentWide``), so a name means the same on both loader
paths. torchvision and kornia both pick one op per call: torchvision per sample, through a
Python loop (~90 ms for 256 28x28 images on a CPU core), kornia one op for the whole batch
(and its RandAugment fails on 1-channel images). Here each sample draws its op, sign and (for
trivial_augment) magnitude bin from the batch's generator; geometric ops are one per-sample
warp (warp.py), colour ops the per-sample kernels of color.py.

A kernel runs only on the samples that chose it when the batch is on the CPU (indexing is
free there); on an accelerator it runs on the whole batch and ``torch.where`` keeps the
chosen samples, since selecting rows by a drawn condition would wait for the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from dltrain.data.augment import color
from dltrain.data.augment.types import Batch, BatchOp, select
from dltrain.data.augment.warp import degrees_of_shear, inverse_matrices, warp

GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
Kernel = Callable[[Batch, torch.Tensor, torch.Tensor], Batch]  # (batch, ops, values) -> batch


def _colour(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], offset: float) -> Kernel:
    def kernel(batch: Batch, ops: torch.Tensor, values: torch.Tensor) -> Batch:
        return fn(batch[0], values + offset), batch[1]

    return kernel


COLOUR_KERNELS: dict[str, Kernel] = {
    "Brightness": _colour(color.brightness, 1.0),
    "Color": _colour(color.saturation, 1.0),
    "Contrast": _colour(color.contrast, 1.0),
    "Sharpness": _colour(color.sharpness, 1.0),
    "Posterize": _colour(color.posterize, 0.0),
    "Solarize": _colour(color.solarize, 0.0),
    "AutoContrast": _colour(color.autocontrast, 0.0),
    "Equalize": _colour(color.equalize, 0.0),
}


def _geometric_kernel(names: Sequence[str], fill: float) -> Kernel:
    """The five geometric ops as torchvision applies them, one warp for all of them."""
    index = {name: names.index(name) for name in GEOMETRIC}

    def kernel(batch: Batch, ops: torch.Tensor, values: torch.Tensor) -> Batch:
        images = batch[0]
        height, width = images.shape[-2:]
        zero = torch.zeros_like(values)

        def where(name: str, value: torch.Tensor) -> torch.Tensor:
            return torch.where(ops == index[name], value, zero)

        shear_x = where("ShearX", degrees_of_shear(values))
        shear_y = where("ShearY", degrees_of_shear(values))
        shift = torch.stack([where("TranslateX", values), where("TranslateY", values)], 1)
        angle = -where("Rotate", values)  # torchvision's rotate turns counter-clockwise
        is_shear = ((ops == index["ShearX"]) | (ops == index["ShearY"])).to(values.dtype)
        corner = torch.tensor([-width / 2, -height / 2], device=values.device)
        center = is_shear[:, None] * corner  # shears pivot on the top-left corner
        shears = torch.stack([shear_x, shear_y], 1)
        ones = torch.ones_like(values)
        return warp(batch, inverse_matrices(angle, shift.trunc(), ones, shears, center), fill)

    return kernel


def apply_chosen(
    batch: Batch, ops: torch.Tensor, values: torch.Tensor, kernels: Sequence[tuple[list, Kernel]]
) -> Batch:
    """Each sample through the kernel of the op it chose (``ops``: op index per sample)."""
    images, masks = batch
    on_cpu = images.device.type == "cpu"
    for op_ids, kernel in kernels:
        chosen = torch.isin(ops, torch.tensor(op_ids, device=ops.device))
        if on_cpu:
            rows = chosen.nonzero().squeeze(1)
            if len(rows) == 0:
                continue
            picked = (images[rows], None if masks is None else masks[rows])
            new_images, new_masks = kernel(picked, ops[rows], values[rows])
            images = images.index_copy(0, rows, new_images)
            if masks is not None:
                masks = masks.index_copy(0, rows, new_masks)
        else:
            new_images, new_masks = kernel((images, masks), ops, values)
            images = select(chosen, new_images, images)
            masks = None if masks is None else select(chosen, new_masks, masks)
    return images, masks


class _AutoAugment:
    """Rounds of one op per sample from torchvision's augmentation space for ``kind``."""

    def __init__(self, kind: str, rounds: int, num_bins: int, magnitude: int | None, fill: float):
        from torchvision.transforms import v2

        self.space = getattr(v2, kind)._AUGMENTATION_SPACE
        self.names = list(self.space)
        self.rounds, self.num_bins, self.magnitude = rounds, num_bins, magnitude
        geometric = [self.names.index(name) for name in GEOMETRIC]
        self.kernels = [(geometric, _geometric_kernel(self.names, fill))] + [
            ([self.names.index(name)], kernel) for name, kernel in COLOUR_KERNELS.items()
        ]
        self._tables: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, height: int, width: int, device: torch.device) -> tuple:
        """(ops x bins) magnitudes and which ops take a random sign, for this image size."""
        key = (height, width, str(device))
        if key not in self._tables:
            rows, signed = [], []
            for make, is_signed in self.space.values():
                magnitudes = make(self.num_bins, height, width)
                rows.append(torch.zeros(self.num_bins) if magnitudes is None else magnitudes)
                signed.append(is_signed)
            table = torch.stack([row.float() for row in rows]).to(device)
            self._tables[key] = (table, torch.tensor(signed, device=device))
        return self._tables[key]

    def __call__(self, batch: Batch, generator: torch.Generator) -> Batch:
        images = batch[0]
        count, device = len(images), images.device
        table, signed = self.tables(*images.shape[-2:], device)
        for _ in range(self.rounds):
            ops = torch.randint(len(self.names), (count,), generator=generator, device=device)
            if self.magnitude is None:
                bins = torch.randint(self.num_bins, (count,), generator=generator, device=device)
            else:
                bins = torch.full((count,), self.magnitude, device=device)
            flip = torch.rand(count, generator=generator, device=device) < 0.5
            values = table[ops, bins]
            values = torch.where(signed[ops] & flip, -values, values)
            batch = apply_chosen(batch, ops, values, self.kernels)
        return batch


def rand_augment(
    num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31, fill: float = 0.0
) -> BatchOp:
    """torchvision's RandAugment per sample: ``num_ops`` ops, each at bin ``magnitude``."""
    if not 0 <= magnitude < num_magnitude_bins:
        raise ValueError(f"magnitude must be in [0, num_magnitude_bins), got {magnitude}")
    if num_ops < 1:
        raise ValueError(f"num_ops must be at least 1, got {num_ops}")
    return _AutoAugment("RandAugment", num_ops, num_magnitude_bins, magnitude, fill)


def trivial_augment(num_magnitude_bins: int = 31, fill: float = 0.0) -> BatchOp:
    """torchvision's TrivialAugmentWide per sample: one op at a random bin."""
    if num_magnitude_bins < 2:
        raise ValueError(f"num_magnitude_bins must be at least 2, got {num_magnitude_bins}")
    return _AutoAugment("TrivialAugmentWide", 1, num_magnitude_bins, None, fill)
