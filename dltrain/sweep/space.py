"""Hydra's sweep override grammar -> Optuna distributions.

``choice(a, b)`` is categorical; ``range(lo, hi, step)`` is an int (or stepped float) range;
``interval(lo, hi)`` is uniform, ``tag(log, interval(lo, hi))`` log-uniform (ints when both
ends are ints). Anything that is not a sweep is a fixed override of every trial.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dltrain.errors import UserError
from dltrain.sweep.overrides import parse


def search_space(params: dict[str, Any], arguments: Iterable[str]) -> tuple[list[str], dict]:
    """(fixed overrides, {key: distribution}) from ``hydra.sweeper.params`` and the command
    line; a command-line override of the same key wins."""
    parsed = parse(list(arguments))
    cli_keys = {o.key_or_group for o in parsed}
    from_params = parse([f"{k}={v}" for k, v in params.items() if k not in cli_keys])
    fixed, space = [], {}
    for override in from_params + parsed:
        if override.is_sweep_override():
            space[override.get_key_element()] = distribution(override)
        else:
            fixed.append(override.input_line)
    return fixed, space


def distribution(override: Any) -> Any:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    value = override.value()
    key = override.get_key_element()
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution(list(override.sweep_iterator()))
    if isinstance(value, RangeSweep):
        return range_distribution(override)
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(value.start, value.end, log=log)
    raise UserError(
        f"{key}: Optuna cannot search '{override.input_line}'. Use choice(...), range(...), "
        "interval(lo, hi) or tag(log, interval(lo, hi))."
    )


def range_distribution(override: Any) -> Any:
    """``range(start, stop, step)`` as Hydra's basic sweeper expands it: stop excluded, for
    floats as for ints, so a search samples exactly the grid's values."""
    from optuna.distributions import FloatDistribution, IntDistribution

    value = override.value()
    values = list(override.sweep_iterator())
    if not values:
        raise UserError(f"{override.get_key_element()}: '{override.input_line}' is empty.")
    step = abs(value.step)
    if all(isinstance(v, int) for v in (*values, value.step)):
        return IntDistribution(min(values), max(values), step=step)
    # Hydra adds the step up (0.1 + 0.1 + 0.1 = 0.30000000000000004): the grid's own ends
    # without that noise, so that Optuna's (high - low) is a whole number of steps.
    low, high = (round(float(v), 12) for v in (min(values), max(values)))
    return FloatDistribution(low, high, step=float(step))


def as_override(key: str, value: Any) -> str:
    """One trial's value as a Hydra override (floats keep full precision)."""
    if isinstance(value, float):
        return f"{key}={value!r}"
    if isinstance(value, str) and any(c in value for c in " ,()[]{}'\"=:"):
        escaped = value.replace("'", "\\'")
        return f"{key}='{escaped}'"
    return f"{key}={value}"
