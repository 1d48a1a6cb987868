"""``model.freeze``: stop training parts of a model (fine-tuning).

A list of module-name prefixes (``[conv1, layer1]``) or ``backbone``: everything except the
head, the model's last layer with weights (timm's ``get_classifier()`` when it has one).
Frozen parameters get ``requires_grad=False``, and the optimizer leaves them out; the BatchNorm
layers of the frozen part stay in eval mode (models/batchnorm.py), so their statistics hold too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from dltrain.errors import UserError


def head_name(model: nn.Module) -> str:
    """The module name of the output layer."""
    get_classifier = getattr(model, "get_classifier", None)
    if callable(get_classifier):
        classifier = get_classifier()
        for name, module in model.named_modules():
            if module is classifier and name:
                return name
    last = ""
    for name, module in model.named_modules():
        if name and not list(module.children()) and any(True for _ in module.parameters()):
            last = name
    if not last:
        raise UserError("model.freeze=backbone: this model has no layer with weights.")
    return last


def _matches(param: str, prefix: str) -> bool:
    return param == prefix or param.startswith(prefix + ".")


def in_frozen_part(model: nn.Module, spec: str | Sequence[str]) -> Callable[[str], bool]:
    """Whether a module, by its name, lies in the part of the model ``spec`` freezes."""
    prefixes = [spec] if isinstance(spec, str) else list(spec)
    head = head_name(model) if "backbone" in prefixes else None
    named = [p for p in prefixes if p != "backbone"]

    def frozen(name: str) -> bool:
        outside_head = head is not None and not _matches(name, head)
        return outside_head or any(_matches(name, prefix) for prefix in named)

    return frozen


def freeze(model: nn.Module, spec: str | Sequence[str] | None) -> list[str]:
    """Freeze the parameters ``spec`` names; returns the frozen parameter names."""
    if not spec:
        return []
    prefixes = [spec] if isinstance(spec, str) else list(spec)
    if "backbone" in prefixes:
        head = head_name(model)
        frozen = [n for n, _ in model.named_parameters() if not _matches(n, head)]
        prefixes = [p for p in prefixes if p != "backbone"]
    else:
        frozen = []
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        hits = [n for n in names if _matches(n, prefix)]
        if not hits:
            top = sorted({n.split(".")[0] for n in names})
            raise UserError(
                f"model.freeze: no parameters under '{prefix}'. Use module-name prefixes such "
                f"as {', '.join(top)}, or backbone (all but the head)."
            )
        frozen += hits
    for name, param in model.named_parameters():
        if name in frozen:
            param.requires_grad_(False)
    return sorted(set(frozen))
