"""Every config in configs/ composes, validates and builds its components in this process.

Every option of every group on a base that fits it, every ``experiment=`` and every
``hparams_search=`` preset (at the points of its search space): composed, checked with
validate_composed and preflight's dry build, then model (no weights), loss, optimizer and
scheduler built; data sets built from fake files (dltrain.testing) or generated in memory, at
small sizes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from dltrain.config.compose import compose, group_options
from dltrain.config.freeze import to_plain
from dltrain.config.validate import validate_composed
from dltrain.errors import UserError
from dltrain.registry import LOSSES
from dltrain.testing.fake_data import (
    write_fake_cifar10,
    write_fake_csv,
    write_fake_imagefolder,
    write_fake_mnist,
)
from dltrain.train.dry_build import dry_build
from tests.helpers.builders import (
    build_data,
    build_loss,
    build_model,
    build_optimizer,
    build_scheduler,
    model_task,
)

# build_components steps the scheduler once without a real optimizer step
pytestmark = pytest.mark.filterwarnings(
    "ignore:Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`:UserWarning"
)

GROUPS = ["data", "model", "loss", "optimizer", "scheduler", "precision", "distributed"]
SMALL = ["data.batch_size=8"]

# model -> a base it fits (zoo models: a small architecture, never pretrained weights)
MODEL_BASE = {
    "regression_mlp": ["data=quadratic"],
    "timm": ["model.arch=resnet10t", "model.pretrained_path=null"],
    "torchvision": ["model.arch=resnet18", "model.weights=null"],
}
# a model of each task, for the losses that declare the task they fit
TASK_BASE = {
    "classification": [],
    "segmentation": ["model=unet"],
    "regression": ["model=regression_mlp", "data=quadratic"],
}
# data sets that need a particular model (quadratic only offers regression targets; the
# default fmnist_cnn takes 28x28 images only)
DATA_BASE = {
    "quadratic": ["model=regression_mlp"],
    "cifar10": ["model=mlp"],
    "imagefolder": ["model=mlp"],
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small fake files for every data set that reads files."""
    root = tmp_path_factory.mktemp("every_config")
    write_fake_mnist(root, train_size=40, test_size=20)
    write_fake_mnist(root, train_size=40, test_size=20, dataset_class="MNIST")
    write_fake_cifar10(root, train_size=50, test_size=20)
    write_fake_csv(root / "FashionMNIST" / "fashion-mnist_train.csv", count=30)
    write_fake_csv(root / "FashionMNIST" / "fashion-mnist_test.csv", count=10, seed=1)
    write_fake_imagefolder(root / "images", classes=("cat", "dog"), per_class=4, splits=("train",))
    from dltrain.data.streaming.writer import write_shards

    raw = root / "FashionMNIST" / "raw"
    write_shards(raw, root / "shards", shard_size=25)
    if importlib.util.find_spec("datasets") is not None:
        write_shards(raw, root / "hf", shard_size=100, output_format="hf")
    return root


# data set -> where it finds its fake files under ROOT, or small sizes for generated data
DATA_OVERRIDES = {
    "fashionmnist": ["data.root={root}", "data.download=false"],
    "mnist": ["data.root={root}", "data.download=false"],
    "cifar10": ["data.root={root}", "data.download=false"],
    "csv": ["data.root={root}"],
    "imagefolder": ["data.root={root}/images", "data.image_size=16"],
    "synthetic": ["data.train_size=32", "data.test_size=16"],
    "quadratic": [],
    "digits": [],
    "webdataset": ["data.root={root}/shards", "data.num_workers=0"],
    "hf": ["data.root={root}/hf", "data.num_workers=0"],
}


def data_overrides(name: str, root: Path) -> list[str]:
    return [override.format(root=root) for override in DATA_OVERRIDES[name]]


def loss_base(option: str) -> list[str] | None:
    """A model of a task the loss fits; None for a loss that fits no task's outputs."""
    if option == "auto":
        return []
    tasks = LOSSES.entry(option).tasks
    if tasks is None:  # fits any task
        return next(iter(TASK_BASE.values()))
    for task, base in TASK_BASE.items():
        if task in tasks:
            return base
    return None


def composed(overrides: list[str], dry: bool = True) -> dict[str, Any]:
    """The validated plain config; ``dry``: it passes preflight's dry build too (no shipped
    config may be refused by it)."""
    cfg = compose(overrides)
    validate_composed(cfg)
    if dry:
        dry_build(cfg)
    plain = to_plain(cfg)
    assert plain["loss"]["name"] != "auto"
    return plain


def build_components(cfg: dict[str, Any], model: nn.Module | None = None) -> dict[str, Any]:
    """Model (no weights), loss, optimizer and scheduler of a composed config, then one step."""
    model = model or build_model(cfg["model"], load_weights=False)
    task = model_task(cfg["model"])
    loss = build_loss(cfg["loss"], task)
    trainer = cfg["trainer"]
    optimizer = build_optimizer(
        cfg["optimizer"],
        model,
        grad_accum=trainer["grad_accum"],
        grad_clip=trainer["grad_clip"],
        precision=cfg["precision"]["name"],
    )
    stepper = build_scheduler(
        cfg["scheduler"], optimizer, 10, trainer["max_epochs"], trainer["max_steps"]
    )
    stepper.after_optimizer_step()
    stepper.after_epoch({"train/loss": 1.0, "val/loss": 1.0, "val/accuracy": 0.5})
    assert isinstance(loss, nn.Module)
    return {"model": model, "task": task, "loss": loss, "optimizer": optimizer}


def check_data(cfg: dict[str, Any], task: str) -> None:
    splits = build_data(cfg["data"], task)
    assert splits.task == task and len(splits.train) > 0
    inputs, target = splits.train[0]
    if task != "regression":
        assert tuple(inputs.shape) == tuple(cfg["data"]["shape"])
    assert target is not None


def test_every_data_set_and_preset_is_covered():
    assert sorted(group_options("data")) == sorted(DATA_OVERRIDES)
    for group in ("experiment", "hparams_search", *GROUPS):
        assert group_options(group), f"configs/{group} has options"


@pytest.mark.parametrize("option", group_options("data"))
def test_data(option: str, data_root: Path):
    if option == "digits":
        pytest.importorskip("sklearn", reason="data=digits reads scikit-learn's bundled files")
    if option == "hf":
        pytest.importorskip("datasets", reason="data=hf reads Hugging Face datasets folders")
    cfg = composed(
        [f"data={option}", *DATA_BASE.get(option, []), *data_overrides(option, data_root), *SMALL]
    )
    built = build_components(cfg)
    check_data(cfg, built["task"])


@pytest.mark.parametrize("option", group_options("model"))
def test_model(option: str):
    cfg = composed([f"model={option}", *MODEL_BASE.get(option, [])])
    built = build_components(cfg)
    shape = cfg["data"]["shape"]
    with torch.no_grad():
        out = built["model"].eval()(torch.randn(2, *shape))
    assert out.shape[0] == 2


@pytest.mark.parametrize("option", group_options("loss"))
def test_loss(option: str):
    base = loss_base(option)
    if base is None:  # fits no task's outputs: refused up front, and builds on its own
        with pytest.raises(UserError, match="does not fit a classification model"):
            composed([f"loss={option}"])
        cfg = to_plain(compose([f"loss={option}"]))
        assert isinstance(LOSSES.build(cfg["loss"]), nn.Module)
        return
    cfg = composed([f"loss={option}", *base])
    build_components(cfg)


class SparseBag(nn.Module):
    """The model sparse_adam fits: sparse embedding gradients only."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4, sparse=True)


@pytest.mark.parametrize("option", group_options("optimizer"))
def test_optimizer(option: str):
    if option == "sparse_adam":  # the dry build refuses it for the default (dense) model
        with pytest.raises(UserError, match="only fits parameters with sparse gradients"):
            composed([f"optimizer={option}"])
        cfg = composed([f"optimizer={option}"], dry=False)
        with pytest.raises(UserError, match="only fits parameters with sparse gradients"):
            build_components(cfg)
        build_components(cfg, model=SparseBag())
        return
    build_components(composed([f"optimizer={option}"]))


@pytest.mark.parametrize("option", group_options("scheduler"))
def test_scheduler(option: str):
    build_components(composed([f"scheduler={option}"]))


@pytest.mark.parametrize("group", ["precision", "distributed"])
def test_precision_and_distributed(group: str):
    for option in group_options(group):
        build_components(composed([f"{group}={option}"]))


def sweep_points(params: dict[str, str]) -> list[list[str]]:
    """Overrides at the points of a sweeper's search space: each choice, each interval's ends."""
    points: list[list[str]] = []
    simple = {k: v for k, v in params.items() if "(" not in str(v)}
    for key, values in simple.items():  # the basic sweeper's comma lists
        points += [[f"{key}={value.strip()}"] for value in str(values).split(",")]
    searched = {k: v for k, v in params.items() if k not in simple}
    if searched:
        pytest.importorskip("optuna", reason="the search space is parsed into Optuna's")
        from optuna.distributions import CategoricalDistribution

        from dltrain.sweep.space import as_override, search_space

        _, space = search_space(searched, [])
        for key, distribution in space.items():
            if isinstance(distribution, CategoricalDistribution):
                values = distribution.choices
            else:
                values = (distribution.low, distribution.high)
            points += [[as_override(key, value)] for value in values]
    return points or [[]]


def _preset(overrides: list[str]) -> None:
    base = compose(overrides)
    params = dict(base.hydra.sweeper.get("params") or {})
    for point in sweep_points(params):
        cfg = composed([*overrides, *point])
        built = build_components(cfg)
        if cfg["data"]["name"] != "fashionmnist":  # fake files: see test_data
            check_data(cfg, built["task"])


@pytest.mark.parametrize("option", group_options("experiment"))
def test_experiment(option: str, data_root: Path):
    if option == "digits":
        pytest.importorskip("sklearn", reason="data=digits reads scikit-learn's bundled files")
    if option == "hf":
        pytest.importorskip("datasets", reason="data=hf reads Hugging Face datasets folders")
    name = to_plain(compose([f"experiment={option}"]))["data"]["name"]
    _preset([f"experiment={option}", *data_overrides(name, data_root), *SMALL])


@pytest.mark.parametrize("option", group_options("hparams_search"))
def test_hparams_search(option: str, data_root: Path):
    name = to_plain(compose([f"hparams_search={option}"]))["data"]["name"]
    _preset([f"hparams_search={option}", *data_overrides(name, data_root)])
