"""Which job configs a (multi)run will start, so preflight can validate them all first.

A grid (Hydra's basic sweeper) is expanded in full. An Optuna search cannot be listed ahead,
so preflight validates samples instead: the base config with each choice value and each
interval's two ends, one parameter at a time. Search parameters come from the command line
and from ``hydra.sweeper.params`` (an ``hparams_search=`` preset); the command line wins.
"""

from __future__ import annotations

from typing import Any

from dltrain.config.compose import DEFAULT_SOURCE, ConfigSource, compose
from dltrain.errors import UserError
from dltrain.sweep.overrides import parse, require_launcher, require_optuna

OPTUNA_SWEEPER = "hydra_plugins.dltrain_sweepers"


def sweep_jobs(
    overrides: list[str], multirun: bool, source: ConfigSource = DEFAULT_SOURCE
) -> tuple[list[list[str]], bool]:
    """The override lists to validate, and whether this is a multirun (``-m`` or a preset's
    ``hydra.mode: MULTIRUN``)."""
    parsed = parse(overrides)
    for o in parsed:
        if o.is_sweep_override() and o.get_key_element().startswith("hydra."):
            raise UserError(
                f"'{o.input_line}': Hydra cannot sweep its own settings. To search a value, "
                "sweep the key itself, e.g. optimizer=choice(adam,sgd) or "
                "optimizer.lr='tag(log,interval(1e-4,1e-1))'."
            )
    require_launcher(parsed)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    base = compose(fixed, source)
    multirun = multirun or str(base.hydra.mode) in ("MULTIRUN", "RunMode.MULTIRUN")
    if not multirun:
        return [overrides], False
    sweeper = base.hydra.sweeper
    cli_keys = {o.key_or_group for o in parsed}
    params = sweeper.get("params") or {}
    from_config = [f"{k}={v}" for k, v in params.items() if k not in cli_keys]
    everything = parse(from_config) + parsed
    if OPTUNA_SWEEPER in str(sweeper.get("_target_", "")):
        require_optuna()
        return samples(everything), True
    if any(o.is_sweep_override() and not o.is_discrete_sweep() for o in everything):
        return [fixed], True  # Hydra's basic sweeper refuses these itself, with its message
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return [job for batch in BasicSweeper.split_arguments(everything, None) for job in batch], True


def samples(parsed: list[Any]) -> list[list[str]]:
    """The base config, then one job per choice value or interval end of each parameter."""
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    jobs = [fixed]
    for o in parsed:
        if o.is_sweep_override():
            jobs += [[*fixed, f"{o.get_key_element()}={v}"] for v in sample_values(o)]
    return jobs


def sample_values(override: Any) -> list[str]:
    from hydra.core.override_parser.types import IntervalSweep

    value = override.value()
    if isinstance(value, IntervalSweep):
        return [str(value.start), str(value.end)]
    return list(override.sweep_string_iterator())
