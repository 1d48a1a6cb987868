"""mixup and cutmix: timm's batch-mode mixing, on the training device, into soft targets.

As timm's ``Mixup`` (mode ``batch``): with probability ``prob`` a batch is mixed; with both
listed, cutmix is chosen with probability ``switch_prob``, else mixup; ``lam`` is drawn from
Beta(alpha, alpha); sample i is mixed with sample B-1-i (the batch flipped); cutmix pastes one
box (side sqrt(1 - lam) of the image's, centre uniform, clipped) and corrects ``lam`` to the
pasted area. The targets become class probabilities ``lam * onehot(y) + (1 - lam) *
onehot(y_flipped)``; cross-entropy smooths them with ``loss.label_smoothing`` as timm's
``mixup_target`` does (``y * (1 - s) + s / C``), so the loss equals timm's.

timm's own class draws from numpy's global RNG and mixes in place on a batch it is handed;
this keeps its semantics but draws the per-batch decisions from a numpy generator seeded by
(seed, epoch, rank, batch), on the host (nothing to wait for on the device), so a resumed run
mixes the same batches the same way. ``MixedBatches`` wraps either loader (in-memory or torch
DataLoader) and mixes each batch after collation, on the device.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from dltrain.data.augment.seeding import batch_seed, host_generator
from dltrain.data.transform_names import mixing_specs
from dltrain.errors import UserError

MIX_STREAM = 1  # the mixing stream of a batch (0 is the image ops')


@dataclass(frozen=True)
class Mixing:
    """timm's batch-mode mixup/cutmix: alphas 0 turn one off."""

    num_classes: int
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    prob: float = 1.0
    switch_prob: float = 0.5

    def draw(self, rng: np.random.Generator) -> tuple[float, bool]:
        """lam and whether to cut, as timm's ``_params_per_batch`` draws them."""
        if rng.random() >= self.prob:
            return 1.0, False
        cut = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or rng.random() < self.switch_prob)
        alpha = self.cutmix_alpha if cut else self.mixup_alpha
        return float(rng.beta(alpha, alpha)), cut

    def __call__(
        self, images: torch.Tensor, targets: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed images and soft targets (B, num_classes) for class-index ``targets``."""
        lam, cut = self.draw(rng)
        if lam < 1.0 and cut:
            top, bottom, left, right = cut_box(images.shape[-2:], lam, rng)
            images = images.clone()
            images[..., top:bottom, left:right] = images.flip(0)[..., top:bottom, left:right]
            lam = 1.0 - (bottom - top) * (right - left) / (images.shape[-2] * images.shape[-1])
        elif lam < 1.0:
            images = images * lam + images.flip(0) * (1.0 - lam)
        one_hot = F.one_hot(targets.long(), self.num_classes).to(torch.float32)
        return images, one_hot * lam + one_hot.flip(0) * (1.0 - lam)


def cut_box(size: Sequence[int], lam: float, rng: np.random.Generator) -> tuple[int, ...]:
    """timm's ``rand_bbox``: top, bottom, left, right of a box of area ~(1 - lam)."""
    height, width = int(size[0]), int(size[1])
    ratio = np.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
    top, bottom = np.clip(cy - cut_h // 2, 0, height), np.clip(cy + cut_h // 2, 0, height)
    left, right = np.clip(cx - cut_w // 2, 0, width), np.clip(cx + cut_w // 2, 0, width)
    return int(top), int(bottom), int(left), int(right)


def dominant_class(soft_targets: torch.Tensor) -> torch.Tensor:
    """The class with the most weight: what the train metrics compare predictions with."""
    return soft_targets.argmax(1)


class MixedBatches:
    """A training loader whose batches are mixed on ``device``; resumable like the loader."""

    def __init__(
        self, batches: Any, mixing: Mixing, seed: int, rank: int, batch_size: int, device
    ) -> None:
        self.batches, self.mixing, self.seed, self.rank = batches, mixing, seed, rank
        self.batch_size, self.device = batch_size, device
        self.sampler = batches.sampler  # set_epoch(epoch, start) reaches the loader's sampler

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        first = self.sampler.start // self.batch_size  # batches of this epoch already done
        for number, (inputs, targets) in enumerate(self.batches):
            key = batch_seed(self.seed, self.sampler.epoch, self.rank, first + number, MIX_STREAM)
            inputs = inputs.to(self.device, non_blocking=True)
            targets = targets.to(self.device, non_blocking=True)
            yield self.mixing(inputs, targets, host_generator(key))


def build_mixing(specs: Sequence[Mapping[str, Any]] | None, num_classes: int) -> Mixing | None:
    """The Mixing that the mixup/cutmix entries of ``specs`` ask for, or None without them."""
    found = {spec["name"]: spec for spec in specs or [] if spec["name"] in ("mixup", "cutmix")}
    if not found:
        return None
    shared = {k: v for spec in found.values() for k, v in spec.items() if k != "name"}
    return Mixing(
        num_classes=num_classes,
        mixup_alpha=float(found.get("mixup", {}).get("alpha", 0.8)) if "mixup" in found else 0.0,
        cutmix_alpha=float(found.get("cutmix", {}).get("alpha", 1.0)) if "cutmix" in found else 0.0,
        prob=float(shared.get("prob", 1.0)),
        switch_prob=float(shared.get("switch_prob", 0.5)),
    )


def check_mixing_fits(data: Mapping[str, Any], task: str, loss_fn: Any, loss_name: str) -> None:
    """mixup/cutmix need class labels to mix and a loss that takes class probabilities: exit 2
    before the run otherwise (preflight's dry build calls this)."""
    names = [spec["name"] for spec in mixing_specs(data.get("train_transforms"))]
    if not names:
        return
    listed = " and ".join(names)
    if task != "classification":
        raise UserError(
            f"data.train_transforms: {listed} mix class labels, but this is a {task} model. "
            f"Remove {listed} from data.train_transforms (the other augmentations work for "
            f"{task})."
        )
    classes = data.get("num_classes")
    if not isinstance(classes, int) or classes < 2:
        raise UserError(f"{listed} need data.num_classes (2 or more); got {classes!r}.")
    soft = torch.full((2, classes), 1.0 / classes)
    try:
        loss_fn(torch.zeros(2, classes), soft)
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        raise UserError(
            f"loss '{loss_name}' cannot take the class probabilities that {listed} make as "
            f"targets ({str(err).strip().splitlines()[0]}). Use loss=cross_entropy (its "
            f"loss.label_smoothing applies to mixed targets as timm's does), or remove {listed} "
            "from data.train_transforms."
        ) from None
