"""Every loss: built from its config, checked against torch's own or a hand-computed value."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision

from dltrain.components.losses import build_loss
from dltrain.config.compose import compose, group_options
from dltrain.config.freeze import to_plain
from dltrain.errors import UserError
from dltrain.registry import LOSSES

TASKS = ("classification", "segmentation", "regression")


def make(name: str, **options):
    return LOSSES.get(name)(**options)


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def close(actual: torch.Tensor, expected: torch.Tensor | float) -> None:
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype))


def test_every_loss_has_a_config_and_a_task_declaration():
    assert set(group_options("loss")) == {*LOSSES.names(), "auto"}, "auto: the task's loss"
    for name in LOSSES.names():
        tasks = LOSSES.entry(name).tasks
        assert isinstance(tasks, frozenset) and tasks <= set(TASKS), name


@pytest.mark.parametrize("name", sorted(LOSSES.names()))
def test_every_loss_builds_from_its_config_or_is_refused_clearly(name: str):
    section = to_plain(compose([f"loss={name}"]))["loss"]
    fits = LOSSES.entry(name).tasks
    for task in TASKS:
        if task in fits:
            assert isinstance(build_loss(section, task), torch.nn.Module)
        else:
            with pytest.raises(UserError, match=f"loss '{name}' does not fit a {task} model"):
                build_loss(section, task)


def test_refusal_says_what_fits_and_why():
    with pytest.raises(UserError) as err:
        build_loss({"name": "triplet_margin"}, "classification")
    message = str(err.value)
    assert "anchor, positive and negative" in message
    assert "cross_entropy" in message and "multi_margin" in message and "dice" not in message
    with pytest.raises(UserError, match="use loss=bce_with_logits"):
        build_loss({"name": "bce"}, "segmentation")
    with pytest.raises(UserError, match="dice, dice_bce, focal, iou"):
        build_loss({"name": "cross_entropy"}, "segmentation")


def test_reduction_none_is_refused_with_the_reason():
    with pytest.raises(UserError, match="reduction must be mean or sum"):
        build_loss({"name": "mse", "reduction": "none"}, "regression")


# --- regression -----------------------------------------------------------------------------


def test_regression_losses_by_hand():
    out = torch.tensor([[0.0, 2.0], [3.0, -1.0]])
    y = torch.tensor([[0.5, 0.0], [3.0, 1.5]])
    diff = (out - y).abs()  # 0.5, 2, 0, 2.5
    close(make("l1")(out, y), diff.mean())
    close(make("l1", reduction="sum")(out, y), 5.0)
    close(make("mse")(out, y), (0.25 + 4 + 0 + 6.25) / 4)
    smooth = torch.where(diff < 1.0, 0.5 * diff**2, diff - 0.5)
    close(make("smooth_l1")(out, y), smooth.mean())
    beta = 2.0
    smooth2 = torch.where(diff < beta, 0.5 * diff**2 / beta, diff - 0.5 * beta)
    close(make("smooth_l1", beta=beta)(out, y), smooth2.mean())
    delta = 2.0
    huber = torch.where(diff < delta, 0.5 * diff**2, delta * (diff - 0.5 * delta))
    close(make("huber", delta=delta)(out, y), huber.mean())


def test_poisson_nll_by_hand():
    log_rate = torch.tensor([[0.0, 1.0], [-1.0, 0.5]])
    counts = torch.tensor([[1.0, 3.0], [0.0, 2.0]])
    close(make("poisson_nll")(log_rate, counts), (log_rate.exp() - counts * log_rate).mean())
    rate = log_rate.exp()
    expected = (rate - counts * torch.log(rate + 1e-8)).sum()
    close(make("poisson_nll", log_input=False, reduction="sum")(rate, counts), expected)


# --- classification -------------------------------------------------------------------------


def test_cross_entropy_weight_list_label_smoothing_and_ignore_index():
    logits = torch.randn(6, 4)
    labels = torch.tensor([0, 1, 2, 3, -1, 1])
    loss = make("cross_entropy", weight=[1, 2, 1, 3], label_smoothing=0.1, ignore_index=-1)
    assert loss.weight.dtype == torch.float32
    expected = F.cross_entropy(
        logits,
        labels,
        weight=torch.tensor([1.0, 2.0, 1.0, 3.0]),
        ignore_index=-1,
        label_smoothing=0.1,
    )
    close(loss(logits, labels), expected)
    kept = labels != -1
    plain = -F.log_softmax(logits[kept], 1).gather(1, labels[kept, None]).mean()
    close(make("cross_entropy")(logits[kept], labels[kept]), plain)


def test_multi_margin_by_hand():
    scores = torch.tensor([[0.1, 0.2, 0.4, 0.8]])
    target = torch.tensor([3])
    # the tutorial's demo: sum over i != y of max(0, 1 - x[y] + x[i]) / C
    close(make("multi_margin")(scores, target), (0.3 + 0.4 + 0.6) / 4)
    squared = (0.3**2 + 0.4**2 + 0.6**2) / 4
    close(make("multi_margin", p=2)(scores, target), squared)
    close(make("multi_margin", weight=[1, 1, 1, 2])(scores, target), 2 * (0.3 + 0.4 + 0.6) / 4)


def test_nll_on_log_probabilities_equals_cross_entropy_on_logits():
    logits, labels = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    close(make("nll")(F.log_softmax(logits, 1), labels), F.cross_entropy(logits, labels))
    weighted = make("nll", weight=[1.0, 2.0, 0.5], ignore_index=1)
    expected = F.nll_loss(
        F.log_softmax(logits, 1), labels, weight=torch.tensor([1.0, 2.0, 0.5]), ignore_index=1
    )
    close(weighted(F.log_softmax(logits, 1), labels), expected)


# --- binary ---------------------------------------------------------------------------------


def test_bce_by_hand_and_bce_with_logits_matches_it():
    probs = torch.tensor([0.9, 0.2, 0.6])
    y = torch.tensor([1.0, 0.0, 1.0])
    by_hand = -(torch.log(torch.tensor(0.9)) + math.log(0.8) + math.log(0.6)) / 3
    close(make("bce")(probs, y), by_hand)
    close(make("bce_with_logits")(torch.logit(probs), y), by_hand)


def test_bce_with_logits_pos_weight_is_per_channel():
    logits = torch.randn(2, 3, 4, 5)
    masks = (torch.rand(2, 3, 4, 5) > 0.5).float()
    loss = make("bce_with_logits", pos_weight=[1.0, 2.0, 4.0])
    pos = torch.tensor([1.0, 2.0, 4.0]).view(3, 1, 1)
    close(loss(logits, masks), F.binary_cross_entropy_with_logits(logits, masks, pos_weight=pos))
    single = make("bce_with_logits", pos_weight=3.0)(logits[:, :1], masks[:, :1])
    expected = F.binary_cross_entropy_with_logits(
        logits[:, :1], masks[:, :1], pos_weight=torch.tensor([3.0])
    )
    close(single, expected)


# --- losses for other inputs (tasks = none), on the inputs they need ---------------------------


def test_kl_div_wants_log_probabilities_and_defaults_to_batchmean():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    q = torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    true_kl = (q * (q / p).log()).sum() / 2  # KL(q || p), averaged over the batch
    loss = make("kl_div")
    close(loss(p.log(), q), true_kl)
    assert loss(p, q).item() < 0  # the tutorial's mistake: probabilities in, nonsense out
    close(make("kl_div", log_target=True)(p.log(), q.log()), true_kl)
    with pytest.warns(UserWarning, match="batchmean"):
        close(make("kl_div", reduction="mean")(p.log(), q), true_kl * 2 / 6)


def test_gaussian_nll_by_hand():
    mean, target, var = torch.tensor([1.0, 2.0]), torch.tensor([1.5, 1.0]), torch.tensor([0.5, 2.0])
    expected = (0.5 * (var.log() + (mean - target) ** 2 / var)).mean()
    close(make("gaussian_nll")(mean, target, var), expected)
    close(
        make("gaussian_nll", full=True)(mean, target, var), expected + 0.5 * math.log(2 * math.pi)
    )


def test_margin_ranking_hinge_soft_margin_by_hand():
    x1, x2 = torch.tensor([1.0, 0.2, 0.5]), torch.tensor([0.5, 0.6, 0.5])
    y = torch.tensor([1.0, 1.0, -1.0])
    close(make("margin_ranking", margin=0.1)(x1, x2, y), (0.0 + 0.5 + 0.1) / 3)
    dist = torch.tensor([0.3, 1.5, 0.4])
    close(make("hinge_embedding", margin=1.0)(dist, y), (0.3 + 1.5 + 0.6) / 3)
    scores = torch.tensor([0.5, -1.0, 2.0])
    close(make("soft_margin")(scores, y), torch.log1p(torch.exp(-y * scores)).mean())


def test_multilabel_losses():
    scores = torch.tensor([[0.1, 0.2, 0.4, 0.8]])
    labels = torch.tensor([[3, 0, -1, 1]])  # classes 3 and 0; -1 ends the list
    expected = ((1 - (0.8 - 0.2)) + (1 - (0.8 - 0.4)) + (1 - (0.1 - 0.2)) + (1 - (0.1 - 0.4))) / 4
    close(make("multilabel_margin")(scores, labels), expected)
    multi_hot = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    weight = torch.tensor([1.0, 2.0, 1.0, 1.0])
    per_class = (
        -(multi_hot * F.logsigmoid(scores) + (1 - multi_hot) * F.logsigmoid(-scores)) * weight
    )
    close(
        make("multilabel_soft_margin", weight=weight.tolist())(scores, multi_hot), per_class.mean()
    )


def test_cosine_embedding_and_triplet_margin():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([1.0, -1.0])
    cos = F.cosine_similarity(a, b)  # 0, 0.7071
    close(make("cosine_embedding", margin=0.5)(a, b, y), ((1 - cos[0]) + (cos[1] - 0.5)) / 2)
    anchor, positive, negative = torch.randn(3, 4, 5).unbind(0)
    loss = make("triplet_margin", margin=0.5, p=1.0, swap=True)
    expected = F.triplet_margin_loss(anchor, positive, negative, margin=0.5, p=1.0, swap=True)
    close(loss(anchor, positive, negative), expected)
    d_ap = (anchor - positive + 1e-6).norm(dim=1)
    d_an = (anchor - negative + 1e-6).norm(dim=1)
    close(make("triplet_margin")(anchor, positive, negative), (d_ap - d_an + 1).clamp(min=0).mean())


def test_ctc_single_frame_by_hand_and_against_torch():
    # one frame, one target label: the only alignment emits that label
    log_probs = torch.log(torch.tensor([[[0.2, 0.5, 0.3]]]))  # (T=1, B=1, C=3)
    loss = make("ctc", reduction="sum")
    close(
        loss(log_probs, torch.tensor([[1]]), torch.tensor([1]), torch.tensor([1])), -math.log(0.5)
    )
    log_probs = torch.randn(12, 2, 5).log_softmax(2)
    targets = torch.tensor([[1, 2, 2, 3], [4, 1, 0, 0]])
    lengths, target_lengths = torch.tensor([12, 10]), torch.tensor([4, 2])
    expected = F.ctc_loss(log_probs, targets, lengths, target_lengths, blank=0)
    close(make("ctc")(log_probs, targets, lengths, target_lengths), expected)
    impossible = make("ctc", zero_infinity=True)(
        log_probs[:2], targets, torch.tensor([2, 2]), target_lengths
    )
    assert torch.isfinite(impossible)


# --- segmentation ---------------------------------------------------------------------------


def test_dice_and_iou_per_image_by_hand():
    logits = torch.tensor([[[[10.0, -10.0], [10.0, -10.0]]], [[[-10.0, -10.0], [-10.0, 10.0]]]])
    masks = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 1.0]]]])
    probs = torch.sigmoid(logits)
    inter = (probs * masks).sum((2, 3))
    dice = (2 * inter + 1) / (probs.sum((2, 3)) + masks.sum((2, 3)) + 1)
    close(make("dice")(logits, masks), 1 - dice.mean())
    # smooth 0: image 1 predicts 2 pixels, 1 of them right: dice 2/3, IoU 1/2; image 2 exact
    assert make("dice", smooth=0.0)(logits, masks).item() == pytest.approx(
        1 - (2 / 3 + 1) / 2, 1e-3
    )
    iou = (inter + 1) / (probs.sum((2, 3)) + masks.sum((2, 3)) - inter + 1)
    close(make("iou")(logits, masks), 1 - iou.mean())
    assert make("iou", smooth=0.0)(logits, masks).item() == pytest.approx(1 - (0.5 + 1) / 2, 1e-3)
    close(make("dice")(logits, masks[:, 0]), make("dice")(logits, masks))  # [B, H, W] masks


def test_multiclass_dice_uses_softmax_and_class_indices():
    logits = torch.randn(2, 3, 4, 4)
    classes = torch.randint(0, 3, (2, 4, 4))
    probs = logits.softmax(1)
    truth = F.one_hot(classes, 3).permute(0, 3, 1, 2).float()
    inter = (probs * truth).sum((2, 3))
    dice = (2 * inter + 1) / (probs.sum((2, 3)) + truth.sum((2, 3)) + 1)
    close(make("dice")(logits, classes), 1 - dice.mean())
    close(make("dice")(logits, classes[:, None]), 1 - dice.mean())
    expected = F.cross_entropy(logits, classes) + 0.5 * (1 - dice.mean())
    close(make("dice_bce", dice_weight=0.5)(logits, classes), expected)


def test_dice_bce_is_bce_with_logits_plus_dice():
    logits = torch.randn(3, 1, 5, 5)
    masks = (torch.rand(3, 1, 5, 5) > 0.6).float()
    expected = 2.0 * F.binary_cross_entropy_with_logits(logits, masks) + make("dice")(logits, masks)
    close(make("dice_bce", bce_weight=2.0)(logits, masks), expected)


def test_segmentation_targets_that_do_not_fit_are_named():
    with pytest.raises(ValueError, match="do not fit logits"):
        make("dice")(torch.randn(2, 1, 4, 4), torch.zeros(2, 1, 5, 5))


@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (0.8, 1.5), (None, 0.0)])
def test_focal_matches_torchvision_per_element(alpha, gamma):
    logits = torch.randn(2, 1, 6, 6) * 4
    masks = (torch.rand(2, 1, 6, 6) > 0.7).float()
    expected = torchvision.ops.sigmoid_focal_loss(
        logits, masks, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction="mean"
    )
    close(make("focal", alpha=alpha, gamma=gamma)(logits, masks), expected)


def test_focal_is_per_element_not_applied_to_the_mean_bce():
    logits = torch.tensor([[[[5.0, -5.0, 0.0]]]])
    masks = torch.tensor([[[[1.0, 0.0, 1.0]]]])
    bce = F.binary_cross_entropy_with_logits(logits, masks, reduction="none")
    per_element = ((1 - torch.exp(-bce)) ** 2 * bce).mean()
    tutorial = (1 - torch.exp(-bce.mean())) ** 2 * bce.mean()
    close(make("focal", alpha=None)(logits, masks), per_element)
    assert not torch.isclose(per_element, tutorial)


def test_focal_is_finite_for_extreme_logits_and_float32_under_autocast():
    logits = torch.tensor([[[[80.0, -80.0, 80.0]]]], requires_grad=True)
    masks = torch.tensor([[[[0.0, 1.0, 1.0]]]])
    loss = make("focal")(logits, masks)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    low = torch.randn(2, 1, 8, 8).to(torch.bfloat16)
    masks = (torch.rand(2, 1, 8, 8) > 0.5).float()
    for name in ("focal", "dice", "iou", "dice_bce"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            value = make(name)(low, masks)
        assert value.dtype == torch.float32, name
        close(value, make(name)(low.float(), masks))
