"""Composition of every config in configs/, and the schema's errors."""

from __future__ import annotations

import pytest

from dltrain.config.compose import compose, config_dir, group_options
from dltrain.config.freeze import to_plain
from dltrain.config.validate import validate, validate_composed
from dltrain.errors import UserError

GROUPS = [
    "data",
    "model",
    "loss",
    "optimizer",
    "scheduler",
    "precision",
    "distributed",
    "experiment",
]


def test_default_config_is_the_tutorial_cnn():
    composed = compose([])
    assert composed.loss.name == "auto", "resolved by the model's task (task_loss.py)"
    validate_composed(composed)
    cfg = to_plain(composed)
    assert cfg["model"] == {
        "name": "fmnist_cnn",
        "in_channels": 1,
        "num_classes": 10,
        "dropout": 0.3,
        "init": None,
        "weights": None,
        "freeze": None,
        "freeze_bn": False,
    }
    assert cfg["data"]["name"] == "fashionmnist"
    assert cfg["data"]["batch_size"] == 256
    assert cfg["optimizer"]["name"] == "adam" and cfg["optimizer"]["lr"] == 1e-3
    assert cfg["loss"]["name"] == "cross_entropy"
    assert cfg["trainer"]["max_epochs"] == 20
    assert cfg["checkpoint"]["monitor"] == "auto" and cfg["checkpoint"]["mode"] == "auto"


@pytest.mark.parametrize(
    "override",
    [f"{group}={option}" for group in GROUPS for option in group_options(group)],
)
def test_every_group_option_composes_and_validates(override):
    models = _model_for(override)
    overrides = [override, *(models or [])]
    cfg = compose(overrides)
    if models is None:
        with pytest.raises(UserError, match="does not fit a classification model"):
            validate_composed(cfg)  # a loss no task's outputs fit: refused up front
        return
    validate_composed(cfg)
    plain = to_plain(cfg)
    assert "hydra" not in plain
    assert plain["loss"]["name"] != "auto"


# A model (and data) of a task that a loss fits: the loss is checked against the model's task.
TASK_MODELS = {
    "classification": [],
    "segmentation": ["model=unet"],
    "regression": ["model=regression_mlp", "data=quadratic"],
}


def _model_for(override: str) -> list[str] | None:
    """Overrides for a model the option fits; None for a loss that fits no task."""
    group, _, option = override.partition("=")
    if group != "loss" or option == "auto":
        return []
    from dltrain.registry import LOSSES

    tasks = LOSSES.entry(option).tasks
    for task, models in TASK_MODELS.items():
        if task in tasks:
            return models
    return None


def test_config_dir_has_train_and_eval():
    assert (config_dir() / "train.yaml").is_file()
    assert (config_dir() / "eval.yaml").is_file()


def test_interpolations_follow_the_data_set():
    cfg = to_plain(
        compose(["data=synthetic", "data.shape=[3,8,8]", "data.num_classes=4", "model=mlp"])
    )
    assert cfg["model"]["in_features"] == 3 * 8 * 8
    assert cfg["model"]["num_classes"] == 4


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model=resnt"], "no model option 'resnt'"),
        (["trainer.max_epoch=3"], "Did you mean 'trainer.max_epochs'"),
        (["model.dropot=0.1"], "Did you mean 'model.dropout'"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs"),
    ],
)
def test_composition_errors_name_the_key(overrides, expected):
    with pytest.raises(UserError, match=expected):
        compose(overrides)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["optimizer.lr=abc"], "optimizer.lr"),
        (["data.batch_size=0"], "data.batch_size must be a positive integer"),
        (["data.batch_size=-4"], "data.batch_size must be a positive integer"),
        (["data.val_split=1.5"], "data.val_split"),
        (["trainer.grad_accum=0"], "trainer.grad_accum"),
        (["checkpoint.mode=maximum"], "checkpoint.mode"),
        (["device=gpu"], "device must be"),
        (["precision.name=fp8"], "precision.name must be one of fp32, bf16, fp16"),
        (["model.name=nope"], "unknown model 'nope'"),
    ],
)
def test_validation_errors_name_the_key(overrides, expected):
    with pytest.raises(UserError, match=expected):
        validate_composed(compose(overrides))


def test_validate_accepts_the_defaults():
    validate(compose([]))
