"""What a name in ``metrics=[...]`` means: its task, its builder, the keys it logs.

Torch-free: preflight checks the names (unknown, duplicated, of another task) and
``checkpoint.monitor`` against the keys a run will log before anything imports torch. The
builders import torchmetrics only when a run builds them.

A metric returns one of three shapes: a scalar, logged as ``<split>/<name>``; one value per
class (names ending in ``_per_class``), logged as ``<split>/<stem>_class_<k>`` so every logger
takes them as scalars; or a matrix (``confusion_matrix``), written to results.json only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dltrain.errors import UserError
from dltrain.registry import METRICS, did_you_mean

SHAPES = ("scalar", "per_class", "matrix")
TOP_K = re.compile(r"^top(\d+)_accuracy$")  # top2_accuracy, top5_accuracy, ...
# Names with a number in them (topK_accuracy): pattern -> the spec of a match
FAMILIES: dict[re.Pattern[str], Callable[[re.Match[str]], MetricSpec]] = {}


@dataclass(frozen=True)
class MetricSpec:
    """A metric's facts. ``build(classes)`` returns a torchmetrics Metric; a spec without one
    is a value the task's fast sums give: ``derive(base)`` computes it from them, or, with
    neither, it is one of those base values itself (always logged)."""

    task: str
    build: Callable[[int], Any] | None = None
    shape: str = "scalar"
    inputs: str = "scores"  # what update gets: scores (logits, outputs) | probabilities
    derive: Callable[[Mapping[str, float]], float] | None = None

    @property
    def always_logged(self) -> bool:
        return self.build is None and self.derive is None


def register(name: str, spec: MetricSpec) -> None:
    """Add a built-in (or your own) metric under ``name``."""
    if spec.shape not in SHAPES:
        raise ValueError(f"metric '{name}': shape must be one of {SHAPES}, got '{spec.shape}'")
    METRICS.add(name, spec, task=spec.task)


def register_family(pattern: re.Pattern[str], make: Callable[[re.Match[str]], MetricSpec]) -> None:
    """Names matching ``pattern`` (e.g. ``TOP_K``) are metrics too, built by ``make(match)``."""
    FAMILIES[pattern] = make


def metric_spec(name: str) -> MetricSpec:
    """The spec of ``name``: registered, or ``topK_accuracy`` for any K (exit 2 if unknown).

    A function registered with ``@METRICS.register(name, task=...)`` is a scalar metric that
    builds a torchmetrics Metric from the number of classes."""
    if name not in METRICS:  # (the first lookup registers the built-ins and their families)
        for pattern, make in FAMILIES.items():
            match = pattern.match(name)
            if match:
                return make(match)
        raise UserError(
            f"metrics=[...] names an unknown metric '{name}'.{did_you_mean(name, known_names())} "
            f"Known metric names: {', '.join(known_names())} (topK_accuracy for any K >= 2). "
            f"Fix metrics=[...], or register your own with @METRICS.register('{name}', "
            "task=...) (from dltrain.registry import METRICS) in a module listed in imports=[...]."
        )
    entry = METRICS.entry(name)
    if isinstance(entry.target, MetricSpec):
        return entry.target
    return MetricSpec(task=entry.task or "", build=entry.target)


def known_names(task: str | None = None) -> list[str]:
    """Registered metric names (of ``task``, when given)."""
    return [n for n in METRICS.names() if task is None or METRICS.entry(n).task == task]


def check_names(names: Sequence[str]) -> None:
    """Every name is a known metric, listed once (exit 2 naming the fix)."""
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if list(names).count(n) > 1})
        raise UserError(f"metrics=[...] lists {', '.join(twice)} twice. Name each metric once.")
    for name in names:
        metric_spec(name)


def check_fit(names: Sequence[str], task: str, classes: int | None) -> None:
    """Every metric is one of ``task``'s, and top-K asks for no more than ``classes``."""
    for name in names:
        spec = metric_spec(name)
        if spec.task != task:
            raise UserError(
                f"metrics=[{name}]: '{name}' is a {spec.task or 'user'} metric, but this run's "
                f"model is a {task} model. Metrics for {task}: "
                f"{', '.join(known_names(task)) or 'none'}. Drop '{name}' from metrics=[...]."
            )
        match = TOP_K.match(name)
        if match and int(match.group(1)) < 2:
            raise UserError(
                f"metrics=[{name}]: top-1 accuracy is the accuracy every classification run "
                "logs. Use top2_accuracy or more, or drop it."
            )
        if match and classes is not None and int(match.group(1)) > classes:
            raise UserError(
                f"metrics=[{name}]: the model has {classes} classes, fewer than "
                f"K={match.group(1)}. Use K <= {classes}."
            )


def logged_keys(names: Iterable[str], classes: int | None) -> list[str]:
    """The scalar names ``names`` log per split (per-class ones need ``classes``)."""
    keys: list[str] = []
    for name in names:
        spec = metric_spec(name)
        if spec.always_logged or spec.shape == "matrix":
            continue
        if spec.shape == "per_class":
            keys.extend(class_keys(name, classes or 0))
        else:
            keys.append(name)
    return keys


def class_keys(name: str, classes: int) -> list[str]:
    """``accuracy_per_class`` -> accuracy_class_0, accuracy_class_1, ..."""
    stem = name.removesuffix("_per_class")
    return [f"{stem}_class_{k}" for k in range(classes)]


def require_listed(key: str, monitor: str, task: str, names: Sequence[str]) -> None:
    """A monitored extra metric must be computed: ``val/f1_macro`` needs metrics=[f1_macro]."""
    metric = monitor.partition("/")[2]
    wanted = re.sub(r"_class_\d+$", "_per_class", metric)
    known = wanted in METRICS or any(p.match(wanted) for p in FAMILIES)
    if not known or wanted in names or metric_spec(wanted).always_logged:
        return
    if metric_spec(wanted).task == task:
        listed = ",".join([*names, wanted])
        raise UserError(
            f"{key}={monitor}: {wanted} is computed only when listed in metrics=[...]. Add it: "
            f"metrics=[{listed}]."
        )
