"""Augmentation names a config may use, and their torchvision.transforms.v2 classes.

Torch-free on purpose: the names are checked before a run folder exists. A config names a
transform by short name, never by dotted path, and never names a conversion: the data module
turns its own stored images into tensors and normalises them itself, so the tutorials' bug of
applying ToPILImage to what is already a PIL image cannot happen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dltrain.errors import UserError
from dltrain.registry import did_you_mean

# short name -> class in torchvision.transforms.v2 (all take float images in [0, 1])
AUGMENTATIONS: dict[str, str] = {
    "random_crop": "RandomCrop",
    "random_resized_crop": "RandomResizedCrop",
    "center_crop": "CenterCrop",
    "pad": "Pad",
    "horizontal_flip": "RandomHorizontalFlip",
    "vertical_flip": "RandomVerticalFlip",
    "random_rotation": "RandomRotation",
    "random_affine": "RandomAffine",
    "random_perspective": "RandomPerspective",
    "random_zoom_out": "RandomZoomOut",
    "elastic": "ElasticTransform",
    "color_jitter": "ColorJitter",
    "grayscale": "RandomGrayscale",
    "gaussian_blur": "GaussianBlur",
    "gaussian_noise": "GaussianNoise",
    "random_erasing": "RandomErasing",
    "random_invert": "RandomInvert",
    "random_posterize": "RandomPosterize",
    "random_solarize": "RandomSolarize",
    "random_sharpness": "RandomAdjustSharpness",
    "random_autocontrast": "RandomAutocontrast",
    "random_equalize": "RandomEqualize",
    "auto_augment": "AutoAugment",
    "rand_augment": "RandAugment",
    "trivial_augment": "TrivialAugmentWide",
    "augmix": "AugMix",
    # containers: their `transforms` key is a list of transform specs
    "random_apply": "RandomApply",
    "random_choice": "RandomChoice",
    "random_order": "RandomOrder",
}
CONTAINERS = {"random_apply", "random_choice", "random_order"}

# Batch ops on both loader paths (dltrain/data/augment/mixing.py): name -> its options' defaults.
# Listed together, mixup and cutmix share prob and switch_prob (timm's Mixup).
MIXING: dict[str, dict[str, float]] = {
    "mixup": {"alpha": 0.8, "prob": 1.0, "switch_prob": 0.5},
    "cutmix": {"alpha": 1.0, "prob": 1.0, "switch_prob": 0.5},
}

# What the data module does itself; naming these in a list is a mistake worth explaining.
OWNED_BY_DATA = {
    "to_pil_image": "images are tensors already",
    "to_tensor": "images are tensors already",
    "pil_to_tensor": "images are tensors already",
    "to_image": "images are tensors already",
    "to_dtype": "images are float in [0, 1] when augmented",
    "normalize": "set data.normalize, data.mean, data.std",
    "resize": "set data.image_size",
}


def check_transform_specs(specs: Iterable[Any], key: str = "data.train_transforms") -> None:
    """Every entry is {name: <known short name>, ...arguments}; containers are checked inside."""
    if not isinstance(specs, list | tuple):
        raise UserError(f"{key} must be a list of {{name: ..., args}} entries, got {specs!r}.")
    for index, spec in enumerate(specs):
        where = f"{key}[{index}]"
        if not isinstance(spec, Mapping) or "name" not in spec:
            raise UserError(
                f"{where} must be a mapping with a name, e.g. {{name: horizontal_flip, p: 0.5}}; "
                f"got {spec!r}."
            )
        name = spec["name"]
        if name in OWNED_BY_DATA:
            raise UserError(
                f"{where}: '{name}' is done by the data module itself ({OWNED_BY_DATA[name]}); "
                "list only augmentations."
            )
        known = {**AUGMENTATIONS, **MIXING} if key == "data.train_transforms" else AUGMENTATIONS
        if name not in known:
            raise UserError(
                f"{where}: unknown transform '{name}'.{did_you_mean(name, known)} "
                f"Known transforms: {', '.join(sorted(known))}."
            )
        if name in MIXING:
            _check_mixing_options(spec, where)
        if name in CONTAINERS:
            check_transform_specs(spec.get("transforms", []), f"{where}.transforms")
    _check_mixing_agrees(specs, key)


def _check_mixing_options(spec: Mapping[str, Any], where: str) -> None:
    """mixup/cutmix options: known keys, alpha > 0, probabilities in [0, 1]."""
    defaults = MIXING[spec["name"]]
    for option, value in spec.items():
        if option == "name":
            continue
        if option not in defaults:
            raise UserError(
                f"{where}: '{spec['name']}' has no option '{option}'."
                f"{did_you_mean(option, defaults)} Its options: {', '.join(defaults)}."
            )
        number = isinstance(value, int | float) and not isinstance(value, bool)
        low_ok = number and (value > 0 if option == "alpha" else value >= 0)
        if not (low_ok and (option == "alpha" or value <= 1)):
            bound = "a number above 0" if option == "alpha" else "a probability in [0, 1]"
            raise UserError(f"{where}.{option} must be {bound}, got {value!r}.")


def _check_mixing_agrees(specs: Any, key: str) -> None:
    """mixup and cutmix listed together decide per batch with one prob and switch_prob."""
    mixing = [spec for spec in specs if spec["name"] in MIXING]
    names = [spec["name"] for spec in mixing]
    if len(names) != len(set(names)):
        raise UserError(f"{key} lists {names}: list mixup and cutmix at most once each.")
    for option in ("prob", "switch_prob"):
        values = {spec[option] for spec in mixing if option in spec}
        if len(values) > 1:
            raise UserError(
                f"{key}: mixup and cutmix give different {option} values {sorted(values)}; "
                f"they share one (timm's Mixup): set {option} on one of them."
            )


def per_sample_specs(specs: Iterable[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """The entries that are per-image transforms: all but mixup and cutmix (batch ops)."""
    return [spec for spec in specs or [] if spec["name"] not in MIXING]


def mixing_specs(specs: Iterable[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """The mixup and cutmix entries."""
    return [spec for spec in specs or [] if spec["name"] in MIXING]
