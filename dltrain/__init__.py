"""dltrain: config-driven PyTorch training from the command line, and from Python.

    import dltrain

    results = dltrain.train({"experiment": "digits", "trainer.max_epochs": 2}, run_dir="runs/a")
    model = dltrain.load("runs/a")
    model.predict("my_digits/").labels

``train``, ``compose`` and ``load`` live in dltrain/api/ and are imported the first time they
are used, so ``import dltrain`` stays light (no torch, no Hydra) for the command line.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Predictions", "TrainResults", "TrainedModel", "__version__", "compose", "load", "train"]

# public name -> the module that defines it (imported on first use)
_HOMES = {
    "train": "dltrain.api.train",
    "TrainResults": "dltrain.api.train",
    "compose": "dltrain.api.compose",
    "load": "dltrain.api.load",
    "TrainedModel": "dltrain.api.load",
    "Predictions": "dltrain.inference.predictions",
}

if TYPE_CHECKING:
    from dltrain.api.compose import compose
    from dltrain.api.load import TrainedModel, load
    from dltrain.api.train import TrainResults, train
    from dltrain.inference.predictions import Predictions


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'dltrain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """``dltrain.train`` stays the function: importing the ``dltrain.train`` subpackage would
    otherwise bind that name to the subpackage (``from dltrain.train import ...`` and
    ``sys.modules`` reach it as before)."""

    @property
    def train(self) -> Any:
        return __getattr__("train")

    @train.setter
    def train(self, subpackage: Any) -> None:
        """Ignored: the import system setting the subpackage as an attribute."""


sys.modules[__name__].__class__ = _Package
