"""Segmentation losses on logits: Dice, IoU, Dice + BCE, and focal.

One output channel is a binary mask (sigmoid, float targets [B, 1, H, W] or [B, H, W]); C
channels are classes (softmax, class-index targets [B, H, W] or [B, 1, H, W]). Every loss takes
logits and runs in float32 with autocast off, so it is stable and safe under mixed precision
(the tutorials' sigmoid + binary_cross_entropy is neither). Dice and IoU are computed per image
and channel and then averaged, not over the whole batch flattened into one vector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.components.losses import check_reduction
from dltrain.registry import LOSSES

SEGMENTATION = frozenset({"segmentation"})


def float32(logits: torch.Tensor) -> torch.autocast:
    """A context with autocast off for the loss math (inputs are cast to float32 inside)."""
    return torch.autocast(device_type=logits.device.type, enabled=False)


def one_hot_like(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Targets as a float tensor shaped like the logits: the mask itself for one channel,
    one-hot class indices for C channels."""
    channels = logits.shape[1]
    if channels == 1:
        mask = targets.float()
        result = mask.unsqueeze(1) if mask.dim() == logits.dim() - 1 else mask
    else:
        index = targets.long()
        if index.dim() == logits.dim():
            index = index.squeeze(1)
        result = F.one_hot(index, channels).movedim(-1, 1).float()
    if result.shape != logits.shape:
        raise ValueError(
            f"segmentation targets of shape {tuple(targets.shape)} do not fit logits of shape "
            f"{tuple(logits.shape)}: expected a mask [B, 1, H, W] for one channel or class "
            "indices [B, H, W] for several"
        )
    return result


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)


def overlap(
    logits: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft intersection, prediction sum and target sum per image and channel: [B, C] each."""
    probs = probabilities(logits)
    truth = one_hot_like(logits, targets)
    dims = tuple(range(2, logits.dim()))
    return (probs * truth).sum(dims), probs.sum(dims), truth.sum(dims)


class _OverlapLoss(nn.Module):
    """1 - score(|P * T|, |P|, |T|) of soft predictions, averaged over images and channels."""

    def __init__(self, smooth: float = 1.0) -> None:
        super().__init__()
        self.smooth = smooth

    def score(self, inter: torch.Tensor, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with float32(logits):
            return 1 - self.score(*overlap(logits.float(), targets)).mean()


@LOSSES.register("dice", tasks=SEGMENTATION)
class DiceLoss(_OverlapLoss):
    """1 - (2 |P * T| + smooth) / (|P| + |T| + smooth), averaged over images and channels."""

    def score(self, inter: torch.Tensor, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        return (2 * inter + self.smooth) / (pred + truth + self.smooth)


@LOSSES.register("iou", tasks=SEGMENTATION)
class IoULoss(_OverlapLoss):
    """1 - (|P * T| + smooth) / (|P| + |T| - |P * T| + smooth): the soft Jaccard loss."""

    def score(self, inter: torch.Tensor, pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        return (inter + self.smooth) / (pred + truth - inter + self.smooth)


@LOSSES.register("dice_bce", tasks=SEGMENTATION)
class DiceBCELoss(nn.Module):
    """bce_weight * BCE-with-logits + dice_weight * Dice (cross-entropy for C channels)."""

    def __init__(self, smooth: float = 1.0, bce_weight: float = 1.0, dice_weight: float = 1.0):
        super().__init__()
        self.dice = DiceLoss(smooth)
        self.bce_weight, self.dice_weight = bce_weight, dice_weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with float32(logits):
            logits = logits.float()
            truth = one_hot_like(logits, targets)
            if logits.shape[1] == 1:
                pixel = F.binary_cross_entropy_with_logits(logits, truth)
            else:
                pixel = F.cross_entropy(logits, truth.argmax(dim=1))
            return self.bce_weight * pixel + self.dice_weight * self.dice(logits, targets)


@LOSSES.register("focal", tasks=SEGMENTATION)
class FocalLoss(nn.Module):
    """Sigmoid focal loss per element: alpha_t * (1 - p_t) ** gamma * BCE (Lin et al. 2017).

    ``alpha`` weighs positives (1 - alpha the negatives); null turns it off. C channels get one
    sigmoid focal term per class against one-hot targets, as in RetinaNet.
    """

    def __init__(
        self, alpha: float | None = 0.25, gamma: float = 2.0, reduction: str = "mean"
    ) -> None:
        super().__init__()
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1] or null, got {alpha}")
        self.alpha, self.gamma = alpha, gamma
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with float32(logits):
            logits = logits.float()
            truth = one_hot_like(logits, targets)
            bce = F.binary_cross_entropy_with_logits(logits, truth, reduction="none")
            prob = torch.sigmoid(logits)
            p_t = prob * truth + (1 - prob) * (1 - truth)
            loss = bce * (1 - p_t) ** self.gamma
            if self.alpha is not None:
                loss = loss * (self.alpha * truth + (1 - self.alpha) * (1 - truth))
            return loss.mean() if self.reduction == "mean" else loss.sum()
