"""Augmentations from config: training samples only, masks move with images, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import Subset
from torchvision import tv_tensors

from dltrain.data.build import build_data
from dltrain.data.checks import check_data
from dltrain.data.transform_names import AUGMENTATIONS
from dltrain.data.transforms import build_augment
from dltrain.errors import UserError
from dltrain.testing.fake_data import write_fake_mnist
from tests.helpers.data import data_cfg

FLIP = "data.train_transforms=[{name: vertical_flip, p: 1.0}]"
CROP = "data.train_transforms=[{name: random_crop, size: 28, padding: 4}, {name: horizontal_flip}]"
STATS = (0.2860, 0.3530)  # FashionMNIST's mean and std


@pytest.fixture(scope="module")
def garments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("garments")
    write_fake_mnist(root, train_size=60, test_size=20, style="garments")
    return root


def _pair(splits, index: int):
    """The augmented training view and the plain stored image of the same sample."""
    assert isinstance(splits.train, Subset)
    source = splits.train.indices[index]
    return splits.train[index], splits.train.dataset.with_augment(None)[source]


def test_transforms_apply_to_training_samples_only(garments: Path):
    splits = build_data(data_cfg("fashionmnist", f"data.root={garments}", FLIP))
    (image, label), (plain, plain_label) = _pair(splits, 3)
    assert torch.equal(image, plain.flip(-2)) and label == plain_label
    val_source = splits.val.indices[0]
    assert torch.equal(splits.val[0][0], splits.train.dataset.with_augment(None)[val_source][0])
    assert splits.val.dataset.pipeline.augment is None
    assert splits.test.pipeline.augment is None


def test_masks_move_with_images(garments: Path):
    flipped = build_data(data_cfg("fashionmnist", f"data.root={garments}", FLIP), "segmentation")
    (image, mask), (plain, plain_mask) = _pair(flipped, 5)
    assert torch.equal(mask, plain_mask.flip(-2)) and torch.equal(image, plain.flip(-2))
    cropped = build_data(data_cfg("fashionmnist", f"data.root={garments}", CROP), "segmentation")
    torch.manual_seed(0)
    for index in range(len(cropped.train)):
        image, mask = cropped.train[index]
        pixels = image * STATS[1] + STATS[0]
        assert torch.equal(mask, (pixels > 0.1).float()), "the mask is the moved image's foreground"


def test_random_crop_with_padding_moves_content(garments: Path):
    splits = build_data(data_cfg("fashionmnist", f"data.root={garments}", CROP), "segmentation")
    torch.manual_seed(0)
    moved = sum(not torch.equal(splits.train[0][1], _pair(splits, 0)[1][1]) for _ in range(10))
    assert moved > 0


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ("[{name: random_flip}]", "Did you mean"),
        ("[{name: to_pil_image}]", "done by the data module itself"),
        ("[{name: normalize, mean: [0.5], std: [0.5]}]", "data.normalize"),
        ("[{name: random_apply, transforms: [{name: blur}]}]", r"train_transforms\[0\].transforms"),
        ("[{p: 0.5}]", "must be a mapping with a name"),
        ("[{name: random_crop, size: 40}]", "do not work on this data set's 1x28x28 images"),
        ("[{name: horizontal_flip, probability: 0.5}]", "cannot build 'horizontal_flip'"),
    ],
)
def test_bad_transforms_are_user_errors(specs: str, expected: str, garments: Path):
    cfg = data_cfg("fashionmnist", f"data.root={garments}", f"data.train_transforms={specs}")
    with pytest.raises(UserError, match=expected):
        check_data(cfg)


def test_a_transform_that_cannot_move_masks_is_refused_for_segmentation(garments: Path):
    augmix = "data.train_transforms=[{name: augmix}]"
    cfg = data_cfg("fashionmnist", f"data.root={garments}", augmix)
    build_data(cfg)  # fine for classification
    with pytest.raises(UserError, match="segmentation images and masks"):
        build_data(cfg, "segmentation")


ARGS = {
    "random_crop": {"size": 24},
    "random_resized_crop": {"size": 24},
    "center_crop": {"size": 24},
    "pad": {"padding": 2},
    "random_rotation": {"degrees": [-25, 25]},
    "random_affine": {"degrees": 10, "translate": [0.1, 0.1]},
    "random_posterize": {"bits": 4},
    "random_solarize": {"threshold": 0.5},
    "random_sharpness": {"sharpness_factor": 2.0},
    "gaussian_blur": {"kernel_size": 3, "sigma": [0.1, 2.0]},
    "color_jitter": {"brightness": [0.65, 1.35], "hue": 0.1},
    "random_apply": {"p": 0.5, "transforms": [{"name": "horizontal_flip"}]},
    "random_choice": {"transforms": [{"name": "horizontal_flip"}, {"name": "vertical_flip"}]},
    "random_order": {"transforms": [{"name": "random_invert"}, {"name": "vertical_flip"}]},
}


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_every_named_transform_builds_and_runs_on_float_images(name: str):
    augment = build_augment([{"name": name, **ARGS.get(name, {})}])
    image = tv_tensors.Image(torch.rand(3, 32, 32))
    out = augment(image)
    assert out.is_floating_point() and out.shape[0] == 3
