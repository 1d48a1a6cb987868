"""A trained model back from its checkpoint, with the config, data and normalisation it used.

``eval``, ``plot``, ``predict``, ``export`` and ``summary`` open a run one way, ``load_trained``
on a checkpoint file or a run folder (``find_checkpoint``): the checkpoint's saved config
rebuilds the model and, when needed, the data set, so the inputs a model sees after training
are prepared exactly as during training.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn
from torch.utils.data import Dataset, Subset

from dltrain.errors import UserError

if TYPE_CHECKING:
    from dltrain.train.precision import Precision

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
NAMED_CLASSES = {"fashionmnist": FASHION_CLASSES, "cifar10": CIFAR10_CLASSES}
CHECKPOINT_NAMES = ("best.pt", "last.pt")


def find_checkpoint(path: Path) -> Path:
    """The checkpoint a path names: the file itself, or a run folder's best.pt, else last.pt."""
    path = Path(path).expanduser()
    if path.is_dir():
        for name in CHECKPOINT_NAMES:
            if (path / "checkpoints" / name).is_file():
                return path / "checkpoints" / name
        raise UserError(f"{path} is a folder without checkpoints/best.pt or checkpoints/last.pt.")
    return path


def run_dir_of(path: Path) -> Path:
    """The run folder of a checkpoint file (RUN_DIR/checkpoints/x.pt) or of a run folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


@dataclass
class Trained:
    model: nn.Module  # in eval mode, on ``device``
    cfg: dict[str, Any]  # the run's frozen config (with any data.* overrides)
    task: str  # classification | segmentation | regression
    path: Path  # the checkpoint file
    device: torch.device

    @property
    def run_dir(self) -> Path:
        return run_dir_of(self.path)

    @cached_property
    def precision(self) -> Precision:
        """The run's autocast settings, built once (the first forward) for every batch after."""
        from dltrain.train.precision import Precision

        section = self.cfg["precision"]
        return Precision(section["name"], self.device, bool(section.get("tf32", False)))

    @cached_property
    def class_names(self) -> list[str]:
        """The names of the classes (the indices as text where the data set has none)."""
        data = self.cfg["data"]
        return class_names(data, data.get("num_classes") or 0)

    @property
    def input_shape(self) -> list[int]:
        return list(self.cfg["data"]["shape"])

    @torch.inference_mode()
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Outputs on the CPU (float32), computed at the run's precision as evaluation does."""
        with self.precision.autocast():
            outputs = self.model(inputs.to(self.device))
        return outputs.float().cpu()


def load_trained(
    ckpt: str | Path, device: str = "auto", data_overrides: Sequence[str] = ()
) -> Trained:
    """The model of a checkpoint file or run folder (best.pt, else last.pt), weights loaded."""
    from dltrain.distributed.device import resolve_device
    from dltrain.models.build import build_model, model_task
    from dltrain.registry import import_user_modules
    from dltrain.train import checkpoint

    path = find_checkpoint(Path(ckpt))
    target = resolve_device(device)
    state = checkpoint.load(path, map_location=target)
    if "config" not in state:
        raise UserError(f"checkpoint {path} holds no config: it was not written by dltrain train.")
    cfg = OmegaConf.create(state["config"])
    OmegaConf.set_struct(cfg, True)
    try:
        cfg.merge_with_dotlist(list(data_overrides))
    except OmegaConfBaseException as err:
        raise UserError(f"bad data override: {str(err).splitlines()[0]}") from None
    plain = OmegaConf.to_container(cfg)
    import_user_modules(plain["imports"])
    model = build_model(plain["model"], load_weights=False).to(target)
    checkpoint.load_model_weights(model, state["model"], str(path))
    model.eval()
    return Trained(model, plain, model_task(plain["model"]), path, target)


def split_dataset(trained: Trained, split: str) -> tuple[str, Dataset]:
    """(name, data set) of a split of the checkpoint's data, as evaluation sees it.

    ``split``: train, val, test, or auto (val when the data set has one, else test).
    """
    from dltrain.data.build import build_data
    from dltrain.data.checks import check_data

    if split not in ("auto", "train", "val", "test"):
        raise UserError(f"split must be auto, train, val or test, got '{split}'.")
    check_data(trained.cfg["data"])
    data = build_data(trained.cfg["data"], trained.task)
    if split == "auto":
        split = "val" if data.val is not None else "test"
    dataset = getattr(data, split)
    if dataset is None:
        have = [s for s in ("val", "test") if getattr(data, s) is not None]
        raise UserError(
            f"the data set of this checkpoint has no {split} split. Use split="
            f"{' or split='.join(have + ['train'])}."
        )
    return split, dataset


def base_dataset(dataset: Dataset) -> Dataset:
    """The data set under any Subset wrappers (the validation split is a Subset)."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset


def normalisation(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The mean and std (C x 1 x 1) a data set's samples are normalised with, if it says."""
    pipeline = getattr(base_dataset(dataset), "pipeline", None)
    return (pipeline.mean, pipeline.std) if pipeline is not None else None


def class_names(data_cfg: Mapping[str, Any], num_classes: int) -> list[str]:
    """Readable class names where the data set has them, else the class indices.

    fashionmnist and cifar10 have their names, mnist its digits, imagefolder its class folders;
    any other data set (csv files included) only the names its config gives (``class_names``).
    """
    name = data_cfg.get("name")
    given = data_cfg.get("class_names")
    if given:
        names: list[str] = [str(n) for n in given]
    elif name in NAMED_CLASSES:
        names = list(NAMED_CLASSES[name])
    elif name == "mnist":
        names = [str(digit) for digit in range(10)]
    elif name == "imagefolder" and data_cfg.get("train_dir"):
        from dltrain.data.checks import image_classes

        folder = Path(data_cfg["train_dir"]).expanduser()
        names = image_classes(folder) if folder.is_dir() else []
    else:
        names = []
    return names if len(names) == num_classes else [str(i) for i in range(num_classes)]


def data_loader(trained: Trained, dataset: Dataset, batch_size: int | None = None) -> Any:
    """Batches of ``dataset`` in order, on the CPU, in this process (no workers)."""
    from dltrain.data.loaders import build_loader

    cfg = {**trained.cfg["data"], "num_workers": 0}
    if batch_size:
        cfg["batch_size"] = batch_size
    return build_loader(dataset, cfg, False, trained.cfg["seed"], torch.device("cpu"))


def predict_batches(
    trained: Trained, dataset: Dataset, batch_size: int | None = None, limit: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(inputs, targets, outputs) on the CPU for the first ``limit`` samples, in order."""
    if limit is not None and limit < len(dataset):
        dataset = Subset(dataset, range(limit))
    for inputs, targets in data_loader(trained, dataset, batch_size):
        yield inputs, targets, trained.forward(inputs)


def segmentation_masks(outputs: torch.Tensor) -> torch.Tensor:
    """Predicted masks N x H x W: logit above 0 for one channel, else the argmax class."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0).long()
    return outputs.argmax(dim=1)
