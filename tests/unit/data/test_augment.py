"""Batch augmentation: masks stay aligned, draws are per sample and seeded, torchvision's
semantics, mixup/cutmix targets and loss as timm computes them, resumable mixing, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F
from torch.utils.data import TensorDataset
from torchvision.transforms.v2 import functional as TF

from dltrain.components.losses import build_loss
from dltrain.data.augment import (
    BATCH_AUGMENTATIONS,
    MixedBatches,
    auto,
    build_mixing,
    color,
    has_batch_forms,
)
from dltrain.data.augment.mixing import check_mixing_fits
from dltrain.data.augment.seeding import host_generator
from dltrain.data.memory import MemoryBatches, tensor_source
from dltrain.data.sampler import EpochSampler
from dltrain.data.transform_names import check_transform_specs
from dltrain.data.transforms import build_augment
from dltrain.errors import UserError

OPTIONS = {
    "horizontal_flip": {},
    "vertical_flip": {},
    "random_crop": {"size": 28, "padding": 4},
    "random_rotation": {"degrees": 30},
    "random_affine": {"degrees": 20, "translate": [0.2, 0.1], "scale": [0.8, 1.2], "shear": 10},
    "color_jitter": {"brightness": 0.5, "contrast": 0.5},
    "random_erasing": {"p": 1.0},
    "rand_augment": {},
    "trivial_augment": {},
}
GEOMETRIC = ["horizontal_flip", "vertical_flip", "random_crop", "random_rotation", "random_affine"]
THRESHOLD = 0.5


def _pictures(count: int = 64, seed: int = 0) -> torch.Tensor:
    """Blocky images with levels on both sides of THRESHOLD (a 7x7 grid upsampled to 28x28)."""
    generator = torch.Generator().manual_seed(seed)
    levels = torch.tensor([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    cells = levels[torch.randint(len(levels), (count, 1, 7, 7), generator=generator)]
    return F.interpolate(cells, size=(28, 28), mode="nearest")


def _run(op, images, masks=None, seed: int = 1):
    return op((images, masks), torch.Generator().manual_seed(seed))


def test_every_batch_form_is_tested():
    assert set(OPTIONS) == set(BATCH_AUGMENTATIONS)


@pytest.mark.parametrize("name", GEOMETRIC)
def test_geometric_ops_move_the_mask_with_the_image(name: str):
    images = _pictures()
    out, masks = _run(BATCH_AUGMENTATIONS[name](**OPTIONS[name]), images, images > THRESHOLD)
    assert masks.dtype == torch.bool and torch.equal(masks, out > THRESHOLD)
    assert not torch.equal(out, images)


@pytest.mark.parametrize("kind", ["RandAugment", "TrivialAugmentWide"])
def test_auto_augment_geometric_ops_move_the_mask_with_the_image(kind: str):
    op = auto._AutoAugment(kind, 2, 31, 9 if kind == "RandAugment" else None, 0.0)
    op.kernels = op.kernels[:1]  # the geometric ops only: colour ops change the threshold
    images = _pictures()
    masks = (images > THRESHOLD).float()
    out, moved = _run(op, images, masks)
    assert set(moved.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(moved, (out > THRESHOLD).float())
    assert not torch.equal(out, images)


@pytest.mark.parametrize("name", ["color_jitter", "random_erasing", "rand_augment"])
def test_other_ops_leave_masks_as_they_are_or_move_them(name: str):
    images = _pictures()
    masks = (images > THRESHOLD).float()
    _, out_masks = _run(BATCH_AUGMENTATIONS[name](**OPTIONS[name]), images, masks)
    assert set(out_masks.unique().tolist()) <= {0.0, 1.0}
    if name != "rand_augment":
        assert torch.equal(out_masks, masks)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_each_sample_draws_its_own_parameters(name: str):
    images = _pictures(1).expand(32, -1, -1, -1).contiguous()  # one picture, 32 times
    out, _ = _run(BATCH_AUGMENTATIONS[name](**OPTIONS[name]), images)
    distinct = {tuple(sample.flatten().tolist()) for sample in out}
    assert len(distinct) == 2 if name.endswith("flip") else len(distinct) > 4


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_the_same_seed_gives_the_same_batch_and_another_seed_another(name: str):
    op, images = BATCH_AUGMENTATIONS[name](**OPTIONS[name]), _pictures()
    first, again, other = _run(op, images)[0], _run(op, images)[0], _run(op, images, seed=2)[0]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == images.shape and float(first.min()) >= 0 and float(first.max()) <= 1


@pytest.mark.parametrize("name", auto.GEOMETRIC)
def test_auto_augment_geometric_ops_are_torchvisions(name: str):
    from torchvision.transforms import v2

    images = _pictures(4)
    names = list(v2.RandAugment._AUGMENTATION_SPACE)
    kernel = auto._geometric_kernel(names, 0.0)
    value = {"ShearX": 0.3, "ShearY": -0.3, "Rotate": 25.0}.get(name, 5.0)
    ops = torch.full((4,), names.index(name))
    ours, _ = kernel((images, None), ops, torch.full((4,), value))
    reference = v2.RandAugment()._apply_image_or_video_transform(
        images, name, value, TF.InterpolationMode.NEAREST, {torch.Tensor: 0}
    )
    assert (ours == reference).float().mean() > 0.99  # ties at pixel edges may round apart


def test_colour_kernels_are_torchvisions_per_sample():
    rgb = torch.rand(6, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    factors = torch.linspace(0.2, 1.8, 6)
    pairs = [
        (color.brightness, TF.adjust_brightness),
        (color.contrast, TF.adjust_contrast),
        (color.saturation, TF.adjust_saturation),
        (color.sharpness, TF.adjust_sharpness),
        (color.hue, TF.adjust_hue),
    ]
    for ours, theirs in pairs:
        values = factors - 1.0 if ours is color.hue else factors
        values = values.clamp(-0.5, 0.5) if ours is color.hue else values
        out = ours(rgb, values)
        for index in range(6):
            expected = theirs(rgb[index], float(values[index]))
            torch.testing.assert_close(out[index], expected, atol=1e-5, rtol=0)
    bits = torch.tensor([1.0, 2, 4, 6, 7, 8])
    out = color.posterize(rgb, bits)
    for index in range(6):
        assert torch.equal(out[index], TF.posterize(rgb[index], int(bits[index])))


def test_mixing_targets_are_distributions_and_metrics_get_the_dominant_class():
    mixing = build_mixing([{"name": "mixup"}, {"name": "cutmix"}], num_classes=10)
    images, labels = _pictures(16), torch.arange(16) % 10
    seen_cut = seen_mix = False
    for seed in range(20):
        mixed, soft = mixing(images, labels, host_generator(seed))
        torch.testing.assert_close(soft.sum(1), torch.ones(16))
        lam = float(soft[0, labels[0]]) if labels[0] != labels[-1] else None
        if lam is None or lam == 1.0:
            continue
        if torch.equal(mixed[0], images[0] * lam + images[-1] * (1 - lam)):
            seen_mix = True
        else:  # cutmix: lam is the share of pixels that stayed
            kept = (mixed[0] == images[0]) & (images[0] != images[-1])
            seen_cut |= kept.sum() > 0
        assert int(soft.argmax(1)[0]) == (int(labels[0]) if lam > 0.5 else int(labels[-1]))
    assert seen_mix and seen_cut


def test_the_mixed_loss_is_timms_with_label_smoothing():
    timm_mixup = pytest.importorskip("timm.data.mixup")
    from timm.loss import SoftTargetCrossEntropy

    smoothing, classes = 0.1, 10
    mixing = build_mixing([{"name": "mixup", "alpha": 0.4}], num_classes=classes)
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    logits = torch.randn(8, classes, generator=torch.Generator().manual_seed(0))
    _, soft = mixing(_pictures(8), labels, host_generator(7))
    lam = float(soft[0, 3]) if float(soft[0, 3]) >= 0.5 else 1 - float(soft[0, 6])
    ours = build_loss({"name": "cross_entropy", "label_smoothing": smoothing})(logits, soft)
    target = timm_mixup.mixup_target(labels, classes, lam, smoothing)
    torch.testing.assert_close(ours, SoftTargetCrossEntropy()(logits, target))
    by_hand = soft * (1 - smoothing) + smoothing / classes
    expected = -(by_hand * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(ours, expected)


def _mixed_batches(start_batch: int = 0) -> list:
    images = (_pictures(40) * 255).to(torch.uint8)
    from dltrain.data.base import ImageTensorDataset, image_pipeline

    cfg = {"image_size": None, "mask_threshold": None}
    pipeline = image_pipeline(cfg, 1, ((0.5,), (0.25,)), "classification")
    dataset = ImageTensorDataset(images, torch.arange(40) % 10, pipeline=pipeline)
    sampler = EpochSampler(len(dataset), shuffle=True, seed=5)
    sampler.set_epoch(2, start=start_batch * 8)
    augment = BATCH_AUGMENTATIONS["rand_augment"]()
    memory = MemoryBatches(tensor_source(dataset), 8, sampler, augment=augment, seed=5)
    mixing = build_mixing([{"name": "mixup"}, {"name": "cutmix"}], num_classes=10)
    return list(MixedBatches(memory, mixing, 5, 0, 8, torch.device("cpu")))


def test_mixed_batches_resume_mid_epoch_exactly():
    whole, resumed = _mixed_batches(), _mixed_batches(start_batch=3)
    assert len(whole) == 5 and len(resumed) == 2
    for (x, y), (rx, ry) in zip(whole[3:], resumed, strict=True):
        assert torch.equal(x, rx) and torch.equal(y, ry)
    assert not torch.equal(whole[0][1], F.one_hot(whole[0][1].argmax(1), 10).float())


def test_mixing_wraps_a_torch_dataloader_too():
    from torch.utils.data import DataLoader

    dataset = TensorDataset(_pictures(16), torch.arange(16) % 10)
    sampler = EpochSampler(16, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=4, sampler=sampler)
    mixing = build_mixing([{"name": "cutmix", "alpha": 1.0}], num_classes=10)
    batches = list(MixedBatches(loader, mixing, 0, 0, 4, torch.device("cpu")))
    assert len(batches) == 4 and all(y.shape == (4, 10) for _, y in batches)


def test_batch_forms_take_the_torchvision_options_they_know():
    assert has_batch_forms([{"name": "rand_augment", "num_ops": 3}, {"name": "mixup"}])
    assert not has_batch_forms([{"name": "rand_augment", "interpolation": "bilinear"}])
    assert not has_batch_forms([{"name": "augmix"}])
    assert build_augment([{"name": "mixup"}, {"name": "cutmix"}]) is None  # batch ops only
    assert len(build_augment([{"name": "rand_augment"}, {"name": "mixup"}]).transforms) == 1


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ([{"name": "randaugment"}], "Did you mean 'rand_augment'?"),
        ([{"name": "mixp"}], "Did you mean 'mixup'?"),
        ([{"name": "mixup", "alpa": 0.2}], "Did you mean 'alpha'?"),
        ([{"name": "mixup", "alpha": 0}], r"train_transforms\[0\].alpha must be a number above 0"),
        ([{"name": "cutmix", "prob": 1.5}], "must be a probability in [0, 1]"),
        ([{"name": "mixup", "prob": 0.5}, {"name": "cutmix", "prob": 1.0}], "set prob on one"),
    ],
)
def test_bad_augmentation_specs_are_user_errors(specs, expected: str):
    with pytest.raises(UserError, match=re_escape(expected)):
        check_transform_specs(specs)


def re_escape(text: str) -> str:
    return text if "\\" in text else __import__("re").escape(text)


def test_mixing_needs_a_classifier_and_a_loss_that_takes_probabilities():
    data = {"train_transforms": [{"name": "mixup"}], "num_classes": 10}
    check_mixing_fits(data, "classification", build_loss({"name": "cross_entropy"}), "ce")
    with pytest.raises(UserError, match="this is a segmentation model"):
        check_mixing_fits(data, "segmentation", None, "dice_bce")
    with pytest.raises(UserError, match="loss 'multi_margin' cannot take the class probabilit"):
        check_mixing_fits(
            data, "classification", build_loss({"name": "multi_margin"}), "multi_margin"
        )


def test_erasing_draws_boxes_inside_the_scale_range():
    images = torch.ones(200, 1, 28, 28)
    out, _ = _run(BATCH_AUGMENTATIONS["random_erasing"](p=1.0, scale=[0.1, 0.2]), images)
    erased = (out == 0).float().mean(dim=(1, 2, 3))
    assert float(erased.min()) > 0.05 and float(erased.max()) < 0.25
    assert math.isclose(float(erased.mean()), 0.15, abs_tol=0.03)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["loss=multi_margin", "data.train_transforms=[{name: cutmix}]"], "loss=cross_entropy"),
        (["data.train_transforms=[{name: randaugment}]"], "Did you mean 'rand_augment'?"),
        (["data.train_transforms=[{name: mixup, alpha: -1}]"], "must be a number above 0"),
    ],
)
def test_preflight_refuses_bad_augmentation(overrides, expected: str, fmnist_root, tmp_path):
    from dltrain.config.preflight import preflight

    run = tmp_path / "run"
    args = [f"data.root={fmnist_root}", "data.download=false", f"hydra.run.dir={run}"]
    with pytest.raises(UserError, match=re_escape(expected)):
        preflight([*args, *overrides], multirun=False)
    assert not run.exists()
