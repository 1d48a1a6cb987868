"""What a run's config, events and results become in MLflow: params and metric points.

- Params: the frozen config flattened to dotted keys (``optimizer.lr``, ``callbacks.ema.decay``);
  a list or None is its JSON text (``[0.9, 0.999]``, ``null``), an empty section ``{}``. Values
  are cut to 500 characters: the limit of MLflow servers before 2.x raised it to 6,000, so a run
  logs to any server.
- Metrics, each point at the optimizer step (``step`` of the event): an epoch record's values
  under their metrics.jsonl names (``train/loss``, ``val/accuracy``, ``lr``,
  ``images_per_sec``, ``epoch_seconds``, ``epoch``); a step event's under ``step/``
  (``step/train/loss``, ``step/lr``, ``step/images_per_sec``, ``step/grad_norm``), so a step
  and an epoch value never share a (name, step) point; the step event's wall-clock ``time`` is
  the points' timestamp, not a metric. Results (results.json): ``test/*`` under their names,
  the other numbers under ``results/`` (``results/val/accuracy`` of the best weights,
  ``results/best_score``), beside, not inside, the epochs' ``val/*`` history.
- Names are kept to the characters every MLflow version accepts (letters, digits, ``_ - . /``
  and space); others become ``_``.

Nothing here imports mlflow: the training thread turns events into plain tuples, and the
sender's thread makes MLflow entities of them.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

MAX_PARAM_VALUE = 500  # characters: every MLflow server takes this much (2.x+ take 6,000)
MAX_KEY = 250  # characters of a param, metric or tag name (MLflow's MAX_ENTITY_KEY_LENGTH)
_NOT_ALLOWED = re.compile(r"[^\w\-. /]")
_SKIPPED_IN_STEPS = ("step", "epoch", "time")  # the step is the point's step, time its stamp


class Point(NamedTuple):
    """One metric value at an optimizer step; ``timestamp`` in milliseconds (MLflow's unit)."""

    key: str
    value: float
    timestamp: int
    step: int


def mlflow_name(key: str) -> str:
    """``key`` as a param, metric or tag name every MLflow server accepts (MLflow also refuses
    names that a path clean-up would change: ``a//b``, ``./a``, ``..``)."""
    name = posixpath.normpath(_NOT_ALLOWED.sub("_", key)).lstrip("/").replace("..", "__")
    return (name if name not in ("", ".") else "_")[:MAX_KEY]


def event_points(event: Mapping[str, Any], kind: str) -> list[Point]:
    """A metrics.jsonl event as points: ``kind`` step (under ``step/``) or epoch."""
    step = int(event["step"])
    stamp = _millis(event.get("time"))
    if kind == "step":
        pairs = ((f"step/{k}", v) for k, v in event.items() if k not in _SKIPPED_IN_STEPS)
    else:
        pairs = ((k, v) for k, v in event.items() if k != "step")
    return [Point(mlflow_name(k), float(v), stamp, step) for k, v in pairs if _number(v)]


def result_points(results: Mapping[str, Any]) -> list[Point]:
    """results.json's numbers at the run's last step: test/* as they are, others results/*."""
    step, stamp = int(results.get("step", 0)), _millis(None)
    points = []
    for key, value in results.items():
        if key in ("step", "epoch") or not _number(value):
            continue
        name = key if key.startswith("test/") else f"results/{key}"
        points.append(Point(mlflow_name(name), float(value), stamp, step))
    return points


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The config as dotted keys and text values (see the module's docstring)."""
    params: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            params.update(flat_params(value, f"{name}."))
        else:
            params[mlflow_name(name)] = param_value(value)
    return params


def param_value(value: Any) -> str:
    """A config value as an MLflow param's text, cut to MAX_PARAM_VALUE characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > MAX_PARAM_VALUE:
        text = text[: MAX_PARAM_VALUE - 3] + "..."
    return text


def _number(value: Any) -> bool:
    real = isinstance(value, int | float) and not isinstance(value, bool)
    return real and math.isfinite(value)


def _millis(seconds: Any) -> int:
    return int((seconds if _number(seconds) else time.time()) * 1000)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size`` (MLflow's per-request limits)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
