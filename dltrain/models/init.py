"""``model.init``: re-initialise weights with any torch.nn.init scheme, per layer type.

Schemes apply to the weights of convolutions and linear layers (biases get ``bias``, 0 by
default); normalisation layers get weight 1, bias 0. The xavier and orthogonal schemes use
``nn.init.calculate_gain(nonlinearity)`` so the variance suits the activation that follows
(ReLU unless ``nonlinearity`` says otherwise). Schemes that fit only some shapes (eye and
sparse: 2-D linear weights; dirac: convolution weights) leave other layers at PyTorch's default.

    model.init=kaiming_normal
    model.init='{name: normal, std: 0.01}'
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.registry import did_you_mean

SCHEMES: dict[str, Callable[..., Any]] = {
    "xavier_uniform": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
    "kaiming_uniform": nn.init.kaiming_uniform_,
    "kaiming_normal": nn.init.kaiming_normal_,
    "normal": nn.init.normal_,
    "uniform": nn.init.uniform_,
    "constant": nn.init.constant_,
    "ones": nn.init.ones_,
    "zeros": nn.init.zeros_,
    "eye": nn.init.eye_,
    "dirac": nn.init.dirac_,
    "orthogonal": nn.init.orthogonal_,
    "sparse": nn.init.sparse_,
    "trunc_normal": nn.init.trunc_normal_,
}
DEFAULTS = {"sparse": {"sparsity": 0.1}}  # options torch requires that have a usual value
GAIN_SCHEMES = {"xavier_uniform", "xavier_normal", "orthogonal"}
WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear, nn.Bilinear)
NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def parse_init(spec: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(scheme, options) from ``model.init``: a scheme name, or a mapping with ``name``."""
    if isinstance(spec, str):
        name, options = spec, {}
    elif isinstance(spec, Mapping) and "name" in spec:
        options = dict(spec)
        name = str(options.pop("name"))
    else:
        raise UserError(
            f"model.init must be a scheme name or {{name: SCHEME, ...options}}, got {spec!r}."
        )
    if name not in SCHEMES:
        raise UserError(
            f"model.init: unknown scheme '{name}'.{did_you_mean(name, SCHEMES)} "
            f"Known schemes: {', '.join(SCHEMES)}."
        )
    return name, options


def _fits(name: str, weight: torch.Tensor) -> bool:
    if name in ("eye", "sparse"):
        return weight.dim() == 2
    if name == "dirac":
        return weight.dim() in (3, 4, 5)
    return weight.dim() >= 2 or name not in GAIN_SCHEMES | {"kaiming_uniform", "kaiming_normal"}


def init_weights(model: nn.Module, spec: str | Mapping[str, Any]) -> None:
    """Apply the scheme ``spec`` (see the module docstring) to every layer of ``model``."""
    name, options = parse_init(spec)
    bias = float(options.pop("bias", 0.0))
    nonlinearity = str(options.pop("nonlinearity", "relu"))
    scheme = SCHEMES[name]
    accepted = set(inspect.signature(scheme).parameters) - {"tensor", "generator"}
    if name in GAIN_SCHEMES and "gain" not in options:
        param = options.pop("param", None)
        options["gain"] = nn.init.calculate_gain(nonlinearity, param)
    if name.startswith("kaiming"):
        options.setdefault("nonlinearity", nonlinearity)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise UserError(
            f"model.init: '{unknown[0]}' is not an option of {name}. Its options: "
            f"{', '.join(sorted(accepted | {'bias', 'nonlinearity'}))}."
        )
    options = {**DEFAULTS.get(name, {}), **options}
    required = inspect.signature(scheme).parameters
    missing = [k for k in accepted if required[k].default is inspect.Parameter.empty]
    missing = [k for k in missing if k not in options]
    if missing:
        raise UserError(
            f"model.init={name} needs {', '.join(missing)}: write "
            f"model.init='{{name: {name}, {missing[0]}: VALUE}}'."
        )
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, WEIGHTED) and _fits(name, module.weight):
                scheme(module.weight, **options)
                if module.bias is not None:
                    nn.init.constant_(module.bias, bias)
            elif isinstance(module, NORMS) and getattr(module, "weight", None) is not None:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
