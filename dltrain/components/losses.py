"""Every torch.nn loss by name, with config values turned into what torch expects.

Each builder registers the ``tasks``, the model tasks whose (outputs, targets) it is correct on, and
build_loss refuses the rest with the list of losses that fit:

- classification: logits [B, C] and class indices [B] (int64)
- segmentation: logits [B, 1, H, W] with float masks [B, 1, H, W] (or [B, C, H, W] with classes)
- regression: outputs [B, D] and float targets [B, D]

Models return logits, so losses that want probabilities or log-probabilities (bce, nll, kl_div),
and losses that want inputs no task gives (pairs, triplets, sequences, variances, +1/-1 or
multi-label targets) fit no task: a run refuses them with their ``needs`` as the reason, and
they are here, built from config, for your own code. Only ``reduction`` is exposed, never the
deprecated ``size_average``/``reduce``; per-class ``weight`` lists become float tensors.
Dice, IoU, Dice+BCE and focal live in segmentation_losses.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.errors import UserError
from dltrain.registry import LOSSES

REDUCTIONS = ("mean", "sum")


def check_loss_fits(name: str, task: str) -> None:
    """A loss that declares ``tasks`` must fit the model's task; the error lists those that do."""
    entry = LOSSES.entry(name)
    if not _fits(entry.tasks, task):
        fitting = [n for n in LOSSES.names() if _fits(LOSSES.entry(n).tasks, task)]
        needs = entry.needs
        raise UserError(
            f"loss '{name}' does not fit a {task} model"
            f"{f' (it needs {needs})' if needs else ''}. Losses that do: {', '.join(fitting)}"
            " (or loss=auto, the task's default)."
        )


def _fits(tasks: frozenset[str] | None, task: str) -> bool:
    return tasks is None or task in tasks  # None: the loss fits any task


def build_loss(section: Mapping[str, Any], task: str = "classification") -> nn.Module:
    """The loss; one that declares ``tasks`` must fit the model's task."""
    check_loss_fits(section["name"], task)
    return LOSSES.build(section)


def check_reduction(value: str, allowed: Sequence[str] = REDUCTIONS) -> str:
    """Training needs one number per batch, so 'none' (a loss per element) is refused."""
    if value not in allowed:
        raise ValueError(
            f"reduction must be {' or '.join(allowed)}, got '{value}' (training needs one loss "
            "value per batch)"
        )
    return value


def as_tensor(values: float | Sequence[float] | None) -> torch.Tensor | None:
    """A config number or list as a float32 tensor (None stays None)."""
    if values is None:
        return None
    if isinstance(values, int | float):
        return torch.tensor([float(values)])
    return torch.tensor([float(v) for v in values], dtype=torch.float32)


# --- regression: outputs and float targets of the same shape -------------------------------


@LOSSES.register("l1", tasks={"regression"})
def l1(reduction: str = "mean") -> nn.Module:
    """Mean absolute error."""
    return nn.L1Loss(reduction=check_reduction(reduction))


@LOSSES.register("mse", tasks={"regression"})
def mse(reduction: str = "mean") -> nn.Module:
    """Mean squared error."""
    return nn.MSELoss(reduction=check_reduction(reduction))


@LOSSES.register("smooth_l1", tasks={"regression"})
def smooth_l1(beta: float = 1.0, reduction: str = "mean") -> nn.Module:
    """Squared below ``beta``, absolute above: less pulled by outliers than MSE."""
    return nn.SmoothL1Loss(beta=beta, reduction=check_reduction(reduction))


@LOSSES.register("huber", tasks={"regression"})
def huber(delta: float = 1.0, reduction: str = "mean") -> nn.Module:
    """Huber loss: smooth_l1 scaled by ``delta`` (equal when delta = beta = 1)."""
    return nn.HuberLoss(delta=delta, reduction=check_reduction(reduction))


@LOSSES.register("poisson_nll", tasks={"regression"})
def poisson_nll(
    log_input: bool = True, full: bool = False, eps: float = 1e-8, reduction: str = "mean"
) -> nn.Module:
    """Poisson negative log-likelihood of count targets; with log_input the output is log-rate."""
    return nn.PoissonNLLLoss(
        log_input=log_input, full=full, eps=eps, reduction=check_reduction(reduction)
    )


# --- classification: logits [B, C], class indices [B] ---------------------------------------


@LOSSES.register("cross_entropy", tasks={"classification"})
def cross_entropy(
    label_smoothing: float = 0.0,
    weight: Sequence[float] | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> nn.Module:
    """CrossEntropyLoss on logits (log_softmax + nll in one stable step)."""
    return nn.CrossEntropyLoss(
        weight=as_tensor(weight),
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=check_reduction(reduction),
    )


@LOSSES.register("multi_margin", tasks={"classification"})
def multi_margin(
    p: int = 1,
    margin: float = 1.0,
    weight: Sequence[float] | None = None,
    reduction: str = "mean",
) -> nn.Module:
    """Multi-class hinge loss on raw class scores (p is 1 or 2)."""
    return nn.MultiMarginLoss(
        p=p, margin=margin, weight=as_tensor(weight), reduction=check_reduction(reduction)
    )


# --- segmentation (binary masks) ------------------------------------------------------------


class ChannelBCEWithLogits(nn.Module):
    """BCEWithLogitsLoss whose per-channel ``weight``/``pos_weight`` broadcast over dim 1.

    torch broadcasts them over the last dimension, which for [B, C, H, W] masks is the image
    width, not the channel.
    """

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        pos_weight: torch.Tensor | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * max(logits.dim() - 2, 0)

        def per_channel(value: torch.Tensor | None) -> torch.Tensor | None:
            return None if value is None else value.view(shape)

        return F.binary_cross_entropy_with_logits(
            logits,
            targets.to(logits.dtype),
            weight=per_channel(self.weight),
            pos_weight=per_channel(self.pos_weight),
            reduction=self.reduction,
        )


@LOSSES.register("bce_with_logits", tasks={"segmentation"})
def bce_with_logits(
    pos_weight: float | Sequence[float] | None = None,
    weight: Sequence[float] | None = None,
    reduction: str = "mean",
) -> nn.Module:
    """Binary cross-entropy on logits: stable, and allowed under autocast (bce is not)."""
    return ChannelBCEWithLogits(
        weight=as_tensor(weight),
        pos_weight=as_tensor(pos_weight),
        reduction=check_reduction(reduction),
    )


# --- losses that need inputs no task gives ---------------------------------------------------


@LOSSES.register(
    "nll", tasks=(), needs="log-probabilities, but models return logits; use loss=cross_entropy"
)
def nll(
    weight: Sequence[float] | None = None, ignore_index: int = -100, reduction: str = "mean"
) -> nn.Module:
    """Negative log-likelihood of log-probabilities (after log_softmax)."""
    return nn.NLLLoss(
        weight=as_tensor(weight), ignore_index=ignore_index, reduction=check_reduction(reduction)
    )


@LOSSES.register(
    "bce", tasks=(), needs="probabilities, but models return logits; use loss=bce_with_logits"
)
def bce(weight: Sequence[float] | None = None, reduction: str = "mean") -> nn.Module:
    """Binary cross-entropy of probabilities in [0, 1] (after sigmoid)."""
    return nn.BCELoss(weight=as_tensor(weight), reduction=check_reduction(reduction))


@LOSSES.register(
    "kl_div", tasks=(), needs="log-probabilities [B, C] and target distributions [B, C]"
)
def kl_div(reduction: str = "batchmean", log_target: bool = False) -> nn.Module:
    """KL(target || input). The input must be log-probabilities (log_softmax), not
    probabilities: probabilities give wrong, even negative, values. ``batchmean`` (sum / batch
    size) is the true KL divergence; ``mean`` divides by the number of elements too."""
    allowed = ("batchmean", "sum", "mean")
    return nn.KLDivLoss(reduction=check_reduction(reduction, allowed), log_target=log_target)


@LOSSES.register("gaussian_nll", tasks=(), needs="a predicted variance next to the predicted mean")
def gaussian_nll(full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> nn.Module:
    """Gaussian negative log-likelihood: called as loss(mean, target, variance)."""
    return nn.GaussianNLLLoss(full=full, eps=eps, reduction=check_reduction(reduction))


@LOSSES.register(
    "margin_ranking",
    tasks=(),
    needs="two score tensors and +1/-1 targets (which one should rank higher)",
)
def margin_ranking(margin: float = 0.0, reduction: str = "mean") -> nn.Module:
    """max(0, -y * (x1 - x2) + margin): called as loss(x1, x2, y)."""
    return nn.MarginRankingLoss(margin=margin, reduction=check_reduction(reduction))


@LOSSES.register("hinge_embedding", tasks=(), needs="distances and +1/-1 targets (similar or not)")
def hinge_embedding(margin: float = 1.0, reduction: str = "mean") -> nn.Module:
    """x for similar pairs (y=1), max(0, margin - x) for dissimilar ones (y=-1)."""
    return nn.HingeEmbeddingLoss(margin=margin, reduction=check_reduction(reduction))


@LOSSES.register(
    "multilabel_margin",
    tasks=(),
    needs="multi-label targets [B, C] of class indices padded with -1",
)
def multilabel_margin(reduction: str = "mean") -> nn.Module:
    """Multi-label hinge loss on class scores."""
    return nn.MultiLabelMarginLoss(reduction=check_reduction(reduction))


@LOSSES.register("soft_margin", tasks=(), needs="+1/-1 targets")
def soft_margin(reduction: str = "mean") -> nn.Module:
    """Two-class logistic loss log(1 + exp(-y * x)) with y in {-1, +1}."""
    return nn.SoftMarginLoss(reduction=check_reduction(reduction))


@LOSSES.register("multilabel_soft_margin", tasks=(), needs="multi-hot targets [B, C]")
def multilabel_soft_margin(
    weight: Sequence[float] | None = None, reduction: str = "mean"
) -> nn.Module:
    """Per-class logistic loss averaged over classes, for multi-label targets."""
    return nn.MultiLabelSoftMarginLoss(
        weight=as_tensor(weight), reduction=check_reduction(reduction)
    )


@LOSSES.register("cosine_embedding", tasks=(), needs="two embedding tensors and +1/-1 targets")
def cosine_embedding(margin: float = 0.0, reduction: str = "mean") -> nn.Module:
    """1 - cos(x1, x2) for y=1, max(0, cos(x1, x2) - margin) for y=-1 (margin in [-1, 1])."""
    return nn.CosineEmbeddingLoss(margin=margin, reduction=check_reduction(reduction))


@LOSSES.register("triplet_margin", tasks=(), needs="anchor, positive and negative embeddings")
def triplet_margin(
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> nn.Module:
    """max(d(a, p) - d(a, n) + margin, 0) with the p-norm distance d."""
    return nn.TripletMarginLoss(
        margin=margin, p=p, eps=eps, swap=swap, reduction=check_reduction(reduction)
    )


@LOSSES.register(
    "ctc", tasks=(), needs="log-probability sequences (T, B, C) with input and target lengths"
)
def ctc(blank: int = 0, zero_infinity: bool = False, reduction: str = "mean") -> nn.Module:
    """Connectionist temporal classification: called as loss(log_probs, targets, in_lens,
    target_lens), log_probs from log_softmax over classes."""
    return nn.CTCLoss(
        blank=blank, zero_infinity=zero_infinity, reduction=check_reduction(reduction)
    )
