"""Does a model run on its data's input shape? Asked on the meta device, before any run.

A forward pass on meta tensors computes shapes only: no memory, milliseconds. When it fails,
the same probe at other square sizes finds the sizes the model does run on, so the error can
say which image size to set instead of repeating torch's shape arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dltrain.errors import UserError

BATCH = 2  # BatchNorm in training mode needs more than one value per channel
CANDIDATE_SIZES = (8, 16, 28, 32, 64, 96, 128, 224, 299, 384, 512)
# What a forward pass raises on inputs it cannot take (torchvision and timm models assert).
FORWARD_ERRORS = (RuntimeError, ValueError, TypeError, AssertionError, IndexError)


class MetaUnsupported(Exception):
    """The meta device cannot run this model (an op without a meta kernel, a data-dependent
    branch): nothing is known about the user's input, so nothing is refused."""


def meta_output_shape(model: nn.Module, shape: Sequence[int]) -> torch.Size | None:
    """The output shape of ``model`` on a meta batch of ``shape`` inputs (None: not a tensor).

    Raises what the forward raises on a bad shape, or MetaUnsupported.
    """
    inputs = torch.zeros(BATCH, *shape, device="meta")
    try:
        with torch.no_grad():
            outputs = model(inputs)
    except NotImplementedError as err:
        raise MetaUnsupported(str(err)) from err
    except FORWARD_ERRORS as err:
        if "meta" in str(err).lower():  # e.g. a tensor made on the CPU inside forward
            raise MetaUnsupported(str(err)) from err
        raise
    return outputs.shape if isinstance(outputs, torch.Tensor) else None


def check_input_shape(
    model: nn.Module, section: Mapping[str, Any], data: Mapping[str, Any]
) -> torch.Size | None:
    """The model's output shape on the data's inputs (``data.shape``); exit 2 when it cannot
    run on them, naming the image sizes it runs on. None when the meta device cannot tell.

    ``section`` is the model's config section, for the message."""
    shape = [int(n) for n in data["shape"]]
    try:
        return meta_output_shape(model, shape)
    except MetaUnsupported:
        return None
    except FORWARD_ERRORS as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        shown = "x".join(str(n) for n in shape)
        arch = f" (model.arch={section['arch']})" if section.get("arch") else ""
        message = (
            f"model '{section['name']}'{arch} cannot run on {shown} inputs "
            f"(data.shape={shape}): {reason}."
        )
        raise UserError(message + _size_advice(model, shape, data)) from None


def _size_advice(model: nn.Module, shape: list[int], data: Mapping[str, Any]) -> str:
    """Which square sizes the model runs on, as a fix; a general hint when none is found."""
    fallback = " Check the model's options against the data (data.shape, data.num_classes)."
    if len(shape) != 3 or shape[1] != shape[2]:
        return fallback
    key = "data.image_size" if "image_size" in data else "data.shape"
    span = working_sizes(lambda size: _runs(model, [shape[0], size, size]), shape[1])
    if span is None:
        return fallback
    low, high = span
    if low == high:
        where = f"at {low}x{low} only"
    elif low is None:
        where = f"at {high}x{high} or smaller"
    elif high is None:
        where = f"at {low}x{low} or larger"
    else:
        where = f"from {low}x{low} to {high}x{high}"
    example = low if low is not None else high
    value = example if key == "data.image_size" else f"[{shape[0]},{example},{example}]"
    return f" It runs {where}: set {key} accordingly, e.g. {key}={value}."


def _runs(model: nn.Module, shape: list[int]) -> bool:
    try:
        meta_output_shape(model, shape)
    except (MetaUnsupported, *FORWARD_ERRORS):
        return False
    return True


def working_sizes(
    runs: Callable[[int], bool], failing: int
) -> tuple[int | None, int | None] | None:
    """The sizes around ``failing`` that ``runs``: (smallest, largest) of the run of working
    sizes nearest to it, None for a side with no limit among the candidates; None if no
    candidate works. Each edge is found exactly by bisection."""
    results = {size: runs(size) for size in CANDIDATE_SIZES if size != failing}
    results[failing] = False
    working = [size for size, ok in results.items() if ok]
    if not working:
        return None
    nearest = min(working, key=lambda size: (abs(size - failing), size))
    below = [size for size, ok in results.items() if not ok and size < nearest]
    above = [size for size, ok in results.items() if not ok and size > nearest]
    low = _edge(runs, nearest, max(below)) if below else None
    high = _edge(runs, nearest, min(above)) if above else None
    return low, high


def _edge(runs: Callable[[int], bool], good: int, bad: int) -> int:
    """The last working size going from ``good`` (works) towards ``bad`` (does not)."""
    while abs(bad - good) > 1:
        middle = (good + bad) // 2
        if runs(middle):
            good = middle
        else:
            bad = middle
    return good
