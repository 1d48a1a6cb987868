"""Name -> builder registries.

Configs pick components by short name, never by dotted import paths, so a config cannot call
arbitrary code. Built-in components are listed as ``"module:attribute"`` strings and imported
only when used: ``dltrain list`` and config errors never pay for ``import torch``. Users add
their own components with the ``register`` decorator in a module named in ``imports=[...]``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from typing import Any

from dltrain.errors import UserError


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name a typo most likely meant, or None."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    guess = closest(name, known)
    return f" Did you mean '{guess}'?" if guess else ""


class Registry:
    """Maps names to builders (classes or functions) for one kind of component."""

    def __init__(
        self, kind: str, builtins: dict[str, str] | None = None, symbol: str | None = None
    ) -> None:
        self.kind = kind
        self.symbol = symbol or kind.upper()  # the registry's name in dltrain.registry
        self._lazy: dict[str, str] = dict(builtins or {})
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str | None = None) -> Callable[[Callable], Callable]:
        """Decorator: ``@MODELS.register("my_net")`` (defaults to the object's own name)."""

        def add(obj: Callable) -> Callable:
            key = name or obj.__name__
            if key in self._entries and self._entries[key] is not obj:
                raise UserError(f"{self.kind} '{key}' is registered twice.")
            self._entries[key] = obj
            self._lazy.pop(key, None)
            return obj

        return add

    def names(self) -> list[str]:
        return sorted(set(self._lazy) | set(self._entries))

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._lazy

    def check(self, name: str) -> None:
        """Fail with the known names and the closest match when ``name`` is unknown."""
        if name not in self:
            known = ", ".join(self.names())
            raise UserError(
                f"unknown {self.kind} '{name}'.{did_you_mean(name, self.names())} "
                f"Known {self.kind} names: {known}. Register your own with "
                f"@{self.symbol}.register('{name}') in a module listed in imports=[...]."
            )

    def get(self, name: str) -> Callable[..., Any]:
        self.check(name)
        if name not in self._entries:
            module_name, attr = self._lazy[name].split(":")
            self._entries[name] = getattr(importlib.import_module(module_name), attr)
        return self._entries[name]


def import_user_modules(modules: Iterable[str]) -> None:
    """Import the modules named in ``imports=[...]`` so their ``register`` calls run."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise UserError(
                f"imports: cannot import '{module}' ({err}). Check the module name and that it "
                "is on PYTHONPATH (run from its folder or pip install it)."
            ) from err


DATA = Registry(
    "data",
    {
        "fashionmnist": "dltrain.data.torchvision_sets:fashionmnist",
        "mnist": "dltrain.data.torchvision_sets:mnist",
        "cifar10": "dltrain.data.cifar:cifar10",
        "imagefolder": "dltrain.data.imagefolder:imagefolder",
        "csv": "dltrain.data.csv_images:csv",
        "quadratic": "dltrain.data.quadratic:quadratic",
        "synthetic": "dltrain.data.synthetic:synthetic",
        "digits": "dltrain.data.digits:digits",
    },
)
MODELS = Registry(
    "model",
    {
        "fmnist_cnn": "dltrain.models.classic:FashionCNN",
        "mlp": "dltrain.models.classic:MLP",
        "lenet": "dltrain.models.classic:LeNet",
        "softmax_regression": "dltrain.models.simple:SoftmaxRegression",
        "regression_mlp": "dltrain.models.simple:RegressionMLP",
        "alexnet": "dltrain.models.alexnet:AlexNet",
        "unet": "dltrain.models.unet:UNet",
        "torchvision": "dltrain.models.tv:torchvision_model",
        "timm": "dltrain.models.timm_zoo:timm_model",
    },
    symbol="MODELS",
)
LOSSES = Registry(
    "loss",
    {
        "l1": "dltrain.components.losses:l1",
        "mse": "dltrain.components.losses:mse",
        "smooth_l1": "dltrain.components.losses:smooth_l1",
        "huber": "dltrain.components.losses:huber",
        "poisson_nll": "dltrain.components.losses:poisson_nll",
        "cross_entropy": "dltrain.components.losses:cross_entropy",
        "multi_margin": "dltrain.components.losses:multi_margin",
        "bce_with_logits": "dltrain.components.losses:bce_with_logits",
        "nll": "dltrain.components.losses:nll",
        "bce": "dltrain.components.losses:bce",
        "kl_div": "dltrain.components.losses:kl_div",
        "gaussian_nll": "dltrain.components.losses:gaussian_nll",
        "margin_ranking": "dltrain.components.losses:margin_ranking",
        "hinge_embedding": "dltrain.components.losses:hinge_embedding",
        "multilabel_margin": "dltrain.components.losses:multilabel_margin",
        "soft_margin": "dltrain.components.losses:soft_margin",
        "multilabel_soft_margin": "dltrain.components.losses:multilabel_soft_margin",
        "cosine_embedding": "dltrain.components.losses:cosine_embedding",
        "triplet_margin": "dltrain.components.losses:triplet_margin",
        "ctc": "dltrain.components.losses:ctc",
        "dice": "dltrain.components.segmentation_losses:DiceLoss",
        "iou": "dltrain.components.segmentation_losses:IoULoss",
        "dice_bce": "dltrain.components.segmentation_losses:DiceBCELoss",
        "focal": "dltrain.components.segmentation_losses:FocalLoss",
    },
    symbol="LOSSES",
)
OPTIMIZERS = Registry(
    "optimizer",
    {
        "sgd": "torch.optim:SGD",
        "momentum": "torch.optim:SGD",  # sgd with momentum 0.9 (the optimizer comparison)
        "asgd": "torch.optim:ASGD",
        "adadelta": "torch.optim:Adadelta",
        "adafactor": "torch.optim:Adafactor",
        "adagrad": "torch.optim:Adagrad",
        "adam": "torch.optim:Adam",
        "adamw": "torch.optim:AdamW",
        "adamax": "torch.optim:Adamax",
        "lbfgs": "torch.optim:LBFGS",
        "nadam": "torch.optim:NAdam",
        "radam": "torch.optim:RAdam",
        "rmsprop": "torch.optim:RMSprop",
        "rprop": "torch.optim:Rprop",
        "sparse_adam": "torch.optim:SparseAdam",
    },
    symbol="OPTIMIZERS",
)
SCHEDULERS = Registry(
    "scheduler",
    {
        "none": "dltrain.components.schedulers:no_scheduler",
        "lambda": "dltrain.components.schedulers:lambda_lr",
        "multiplicative": "dltrain.components.schedulers:multiplicative",
        "step": "torch.optim.lr_scheduler:StepLR",
        "step_decay": "torch.optim.lr_scheduler:StepLR",
        "multistep": "torch.optim.lr_scheduler:MultiStepLR",
        "constant": "torch.optim.lr_scheduler:ConstantLR",
        "linear": "torch.optim.lr_scheduler:LinearLR",
        "exponential": "torch.optim.lr_scheduler:ExponentialLR",
        "polynomial": "dltrain.components.schedulers:polynomial",
        "cosine": "dltrain.components.schedulers:cosine",
        "cosine_warm_restarts": "torch.optim.lr_scheduler:CosineAnnealingWarmRestarts",
        "cyclic": "dltrain.components.schedulers:cyclic",
        "onecycle": "dltrain.components.schedulers:onecycle",
        "plateau": "torch.optim.lr_scheduler:ReduceLROnPlateau",
        "sequential": "dltrain.components.schedulers:sequential",
        "chained": "dltrain.components.schedulers:chained",
        "warmup_cosine": "dltrain.components.schedulers:warmup_cosine",
    },
    symbol="SCHEDULERS",
)

REGISTRIES: dict[str, Registry] = {
    "data": DATA,
    "model": MODELS,
    "loss": LOSSES,
    "optimizer": OPTIMIZERS,
    "scheduler": SCHEDULERS,
}
