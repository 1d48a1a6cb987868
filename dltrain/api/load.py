"""``dltrain.load``: a trained run back as a model that predicts, by ``dltrain predict``'s code.

The checkpoint is opened by inference/trained.py (as eval, predict, export and plot open it)
and inputs go through inference/predict.py: image files are read, resized and normalised, and
outputs decoded (inference/predictions.py) exactly as for predictions.csv.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dltrain.api.overrides import Overrides, as_overrides
from dltrain.errors import UserError

if TYPE_CHECKING:
    import torch
    from omegaconf import DictConfig

    from dltrain.inference.predictions import Predictions
    from dltrain.inference.trained import Trained


class TrainedModel:
    """A trained model with what it was trained with; ``predict`` runs it on new inputs.

    ``model`` (torch.nn.Module, eval mode, on ``device``), ``config`` (the run's frozen config,
    a DictConfig), ``task``, ``class_names``, ``normalisation`` (the inputs' mean and std),
    ``checkpoint`` (the file) and ``run_dir``.

    Example::

        model = dltrain.load("runs/digits")
        model.class_names, model.config.model.name
        model.predict("photo.png").labels
    """

    def __init__(self, trained: Trained) -> None:
        self._trained = trained

    def __repr__(self) -> str:
        return f"TrainedModel({self.config.model.name}, {self.task}, {self.checkpoint})"

    @property
    def model(self) -> torch.nn.Module:
        return self._trained.model

    @property
    def config(self) -> DictConfig:
        from omegaconf import OmegaConf

        return OmegaConf.create(self._trained.cfg)

    @property
    def task(self) -> str:
        """classification, segmentation or regression."""
        return self._trained.task

    @property
    def class_names(self) -> list[str]:
        """The class names of a classification model (the indices as text where the data set
        names none); empty for other tasks."""
        return list(self._trained.class_names) if self.task == "classification" else []

    @property
    def normalisation(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and std (C x 1 x 1) image inputs are normalised with, as in training
        (data sets normalised by their own statistics need their data here: data.root=...)."""
        from dltrain.inference.predict import image_normalisation

        return image_normalisation(self._trained)

    @property
    def checkpoint(self) -> Path:
        return self._trained.path

    @property
    def run_dir(self) -> Path:
        return self._trained.run_dir

    @property
    def device(self) -> torch.device:
        return self._trained.device

    def predict(self, inputs: Any, batch_size: int = 64, normalize: bool = True) -> Predictions:
        """Predictions for ``inputs``, as ``dltrain predict`` makes them.

        ``inputs``: an image file or a folder of images (a path), a list of files and folders,
        a split of the run's data (``"test"``, ``"val"``, ``"train"``: with targets), or a
        tensor / numpy array of N x C x H x W (or one C x H x W) images at data.shape with
        values in [0, 1] (uint8: 0..255), normalised as in training unless ``normalize=False``
        (inputs that are model-ready already, e.g. a batch of the run's own data loader).
        Returns a ``dltrain.Predictions``: ``classes``, ``probabilities`` and ``labels``;
        ``masks``; or ``values``, by task, with ``names`` and the raw ``outputs``.

        Example::

            predictions = model.predict(np.random.rand(4, 1, 28, 28).astype("float32"))
            predictions.classes, predictions.probabilities.max(axis=1)
        """
        from dltrain.inference.predict import array_batches, decoded, source_batches
        from dltrain.inference.predictions import Predictions

        if isinstance(inputs, str | Path) or _is_path_list(inputs):
            batches = source_batches(self._trained, inputs, batch_size)
        else:
            batches = array_batches(self._trained, _as_tensor(inputs), batch_size, normalize)
        return Predictions.join(self.task, list(decoded(self._trained, batches)))


def load(
    run_dir_or_checkpoint: str | Path, device: str = "auto", overrides: Overrides = ()
) -> TrainedModel:
    """The trained model of a run folder (its checkpoints/best.pt, else last.pt) or of a
    checkpoint file, weights loaded with ``weights_only=True``, ready to ``predict``.

    ``device``: auto | cpu | cuda | cuda:N. ``overrides``: ``data.*`` keys of the run's data
    config where this machine differs, e.g. ``{"data.root": "/data"}``, as
    ``dltrain predict RUN data.root=/data`` takes them. A missing or foreign checkpoint is a
    ``UserError`` (exit_code 2).

    Example::

        model = dltrain.load("runs/digits")
        model.predict("my_digits/").labels
    """
    from dltrain.inference.trained import load_trained

    data_overrides = as_overrides(overrides)
    for override in data_overrides:
        if not override.startswith("data."):
            raise UserError(
                f"load() takes data.* overrides only (the data of this machine), not "
                f"{override!r}: the model is the run's."
            )
    return TrainedModel(load_trained(run_dir_or_checkpoint, device, data_overrides))


def _is_path_list(inputs: Any) -> bool:
    return isinstance(inputs, list | tuple) and all(isinstance(i, str | Path) for i in inputs)


def _as_tensor(inputs: Any) -> torch.Tensor:
    import numpy as np
    import torch

    if isinstance(inputs, torch.Tensor):
        return inputs.detach().cpu()
    if isinstance(inputs, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(inputs))
    raise UserError(
        f"cannot predict on {type(inputs).__name__}: pass an image path, a folder, a list of "
        "paths, a split name (test, val, train), a torch.Tensor or a numpy array."
    )
