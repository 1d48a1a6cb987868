"""Optimizers from config: per-group options by module name, fit checks, closure stepping.

``optimizer.param_groups=[{match: fc, lr: 1e-2}]`` puts the parameters under the module ``fc``
(a module-name prefix: ``fc`` matches ``fc.0.weight``, not ``fc2.weight``) into a group with its
own options; the rest form the default group, listed first. The longest matching prefix wins.
Frozen parameters (``requires_grad=False``) are left out of every group.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dltrain.errors import UserError
from dltrain.registry import OPTIMIZERS, did_you_mean
from dltrain.train.checkpoint import strip_prefixes

NOT_OPTIONS = {"self", "params"}

# torch's optimizers by config name; ``momentum`` is sgd with momentum 0.9 (its YAML says so).
for _name, _optimizer in {
    "sgd": torch.optim.SGD,
    "momentum": torch.optim.SGD,
    "asgd": torch.optim.ASGD,
    "adadelta": torch.optim.Adadelta,
    "adafactor": torch.optim.Adafactor,
    "adagrad": torch.optim.Adagrad,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adamax": torch.optim.Adamax,
    "lbfgs": torch.optim.LBFGS,
    "nadam": torch.optim.NAdam,
    "radam": torch.optim.RAdam,
    "rmsprop": torch.optim.RMSprop,
    "rprop": torch.optim.Rprop,
    "sparse_adam": torch.optim.SparseAdam,
}.items():
    OPTIMIZERS.add(_name, _optimizer)


def tupled(value: Any) -> Any:
    """Config lists as tuples: torch wants tuples for betas, etas, step_sizes, eps pairs."""
    return tuple(value) if isinstance(value, list | tuple) else value


def build_optimizer(
    section: Mapping[str, Any],
    model: nn.Module,
    *,
    grad_accum: int = 1,
    grad_clip: float | None = None,
    precision: str = "fp32",
) -> torch.optim.Optimizer:
    """The optimizer over the model's trainable parameters, in the configured groups.

    Pass the run's grad_accum, grad_clip and precision to refuse an optimizer that cannot step
    under them (lbfgs) before anything runs.
    """
    name = section["name"]
    builder = OPTIMIZERS.get(name)
    options = {k: tupled(v) for k, v in section.items() if k != "param_groups"}
    check_tuple_lengths(name, builder, options, "optimizer")
    named = trainable_parameters(model)
    groups = param_groups(named, section.get("param_groups") or [], model, name, builder)
    check_model_fits(name, builder, model, named, len(groups))
    optimizer = OPTIMIZERS.build(options, groups)
    check_step_fits(optimizer, grad_accum, grad_clip, precision)
    return optimizer


def check_tuple_lengths(name: str, builder: Any, options: Mapping[str, Any], where: str) -> None:
    """Options torch declares as tuples (betas, etas, step_sizes) are read by position, and
    extra values are dropped silently: each needs as many values as its default has."""
    params = inspect.signature(builder).parameters
    for key, value in options.items():
        default = params[key].default if key in params else None
        if not isinstance(default, tuple) or not isinstance(value, list | tuple):
            continue
        if len(value) != len(default):
            raise UserError(
                f"{where}.{key}={list(value)} has {len(value)} values, but optimizer '{name}' "
                f"takes {len(default)}, like its default {key}={list(default)}."
            )


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Parameters that train, by qualified name without DDP/compile prefixes."""
    names = strip_prefixes({n: p for n, p in model.named_parameters() if p.requires_grad})
    if not names:
        raise UserError(
            "the model has no trainable parameters (every one is frozen): freeze less of it."
        )
    return names


def unwrapped(model: nn.Module) -> nn.Module:
    """The user's model inside a DDP or torch.compile wrapper."""
    for attr in ("module", "_orig_mod"):
        inner = getattr(model, attr, None)
        if isinstance(inner, nn.Module):
            model = inner
    return model


def options_of(builder: Any) -> list[str]:
    return [p for p in inspect.signature(builder).parameters if p not in NOT_OPTIONS]


def under(param_name: str, prefix: str) -> bool:
    """Whether a parameter lives in the module ``prefix`` (whole name parts only)."""
    return param_name == prefix or param_name.startswith(prefix + ".")


def param_groups(
    named: Mapping[str, nn.Parameter],
    specs: Sequence[Mapping[str, Any]],
    model: nn.Module,
    name: str,
    builder: Any,
) -> list[dict[str, Any]]:
    """The default group first, then one group per spec that selects parameters."""
    options = options_of(builder)
    prefixes = []
    for index, spec in enumerate(specs):
        where = f"optimizer.param_groups[{index}]"
        if not isinstance(spec, Mapping) or not spec.get("match"):
            raise UserError(f"{where} needs a match (a module name), e.g. {{match: fc, lr: 0.01}}.")
        for key in spec:
            if key != "match" and key not in options:
                raise UserError(
                    f"{where}.{key} is not an option of optimizer '{name}'."
                    f"{did_you_mean(key, options)} Its options: {', '.join(options)}."
                )
        check_tuple_lengths(name, builder, {k: v for k, v in spec.items() if k != "match"}, where)
        prefixes.append(str(spec["match"]).rstrip("."))
    chosen: list[list[nn.Parameter]] = [[] for _ in range(len(specs) + 1)]
    for param_name, param in named.items():
        hits = [i for i, prefix in enumerate(prefixes) if under(param_name, prefix)]
        best = max(hits, key=lambda i: len(prefixes[i]), default=-1)
        chosen[best + 1].append(param)
    for index, prefix in enumerate(prefixes):
        if not any(under(n, prefix) for n in named):
            top = [n for n, _ in unwrapped(model).named_children()]
            raise UserError(
                f"optimizer.param_groups[{index}].match={prefix} selects no trainable parameter."
                f"{did_you_mean(prefix, top)} Top-level modules: {', '.join(top) or 'none'} "
                "(match a module name or a dotted path below one, e.g. layer4.0.conv1)."
            )
    groups = [{"params": chosen[0]}] if chosen[0] else []
    for spec, params in zip(specs, chosen[1:], strict=True):
        if params:  # a longer match may have taken all of them
            extra = {k: tupled(v) for k, v in spec.items() if k != "match"}
            groups.append({"params": params, **extra})
    return groups


def check_model_fits(
    name: str,
    builder: Any,
    model: nn.Module,
    named: Mapping[str, nn.Parameter],
    num_groups: int,
) -> None:
    """Optimizers that only fit some models: sparse_adam (sparse gradients), lbfgs (one group)."""
    if isinstance(builder, type) and issubclass(builder, torch.optim.SparseAdam):
        sparse = {
            id(m.weight)
            for m in model.modules()
            if isinstance(m, nn.Embedding | nn.EmbeddingBag) and m.sparse
        }
        dense = [n for n, p in named.items() if id(p) not in sparse]
        if dense:
            raise UserError(
                f"optimizer '{name}' only fits parameters with sparse gradients "
                "(nn.Embedding/EmbeddingBag with sparse=True), but this model has dense ones: "
                f"{', '.join(dense[:4])}{', ...' if len(dense) > 4 else ''}. Use optimizer=adam "
                "or adamw."
            )
    if isinstance(builder, type) and issubclass(builder, torch.optim.LBFGS) and num_groups > 1:
        raise UserError(
            f"optimizer '{name}' has one set of options for all parameters (torch's LBFGS has "
            "no parameter groups): remove optimizer.param_groups."
        )


def group_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """``lr/group<N>``: each parameter group's learning rate (host numbers, no device sync)."""
    return {f"lr/group{n}": float(group["lr"]) for n, group in enumerate(optimizer.param_groups)}


def needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """Optimizers whose step re-evaluates the loss through a closure (LBFGS's line search)."""
    return isinstance(optimizer, torch.optim.LBFGS) or bool(
        getattr(optimizer, "needs_closure", False)
    )


def check_step_fits(
    optimizer: torch.optim.Optimizer,
    grad_accum: int,
    grad_clip: float | None,
    precision: str,
) -> None:
    """A closure optimizer recomputes loss and gradients on one batch itself, so it cannot
    accumulate gradients, be stepped by a GradScaler (fp16), or see clipped gradients."""
    if not needs_closure(optimizer):
        return
    fixes = []
    if grad_accum > 1:
        fixes.append("trainer.grad_accum=1")
    if precision == "fp16":
        fixes.append("precision=fp32 or bf16")
    if grad_clip is not None:
        fixes.append("trainer.grad_clip=null")
    if fixes:
        raise UserError(
            f"optimizer {type(optimizer).__name__} steps with a closure that re-evaluates the "
            "loss on one batch, so it cannot accumulate gradients, use fp16's GradScaler, or "
            f"clip gradients. Set {' and '.join(fixes)}."
        )
