"""Where logged metrics go besides metrics.jsonl: ``logger=[csv,tensorboard]``.

One module per logger (mmengine's one-hook-per-file style), found by name in ``LOGGERS`` and
picked as a list like the callbacks: ``logger=[csv,tensorboard]`` adds configs/logger/csv.yaml
and tensorboard.yaml, each under ``logger.<option>`` with the logger's ``name`` and options. A
logger subclasses ``dltrain.loggers.base.Logger`` (built with the run and its options; hooks
``log``, ``finish``, ``close``), registered with ``@LOGGERS.register("name")`` (``from
dltrain.registry import LOGGERS``); ``requires=(module, pip_spec)`` there names a package it
needs, so a missing one is a clear exit 2 before the run starts. Users register their own the
same way in a module listed in ``imports=[...]``, with a YAML under ``logger.<name>``.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Mapping
from typing import Any

from omegaconf import OmegaConf

from dltrain.errors import UserError
from dltrain.registry import LOGGERS, did_you_mean


def check_loggers(sections: Mapping[str, Any]) -> None:
    """Every picked logger's packages are installed (exit 2 naming the pip command), and its
    options are ones it takes, with values its registered ``check`` accepts."""
    for key, section in sections.items():
        entry = LOGGERS.entry(section["name"])
        requires = entry.requires
        if requires and importlib.util.find_spec(requires[0]) is None:
            raise UserError(
                f"logger={key} needs the '{requires[0]}' package, which is not installed. "
                f"Install it with: pip install '{requires[1]}' (or drop {key} from logger=[...])."
            )
        _check_option_names(key, section, entry.target)
        if entry.check is not None:  # on plain values, as the logger gets them
            entry.check(
                OmegaConf.to_container(section, resolve=True)
                if OmegaConf.is_config(section)
                else section
            )


def _check_option_names(key: str, section: Mapping[str, Any], logger: Any) -> None:
    params = inspect.signature(logger).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    known = [name for name in params if name != "run"]
    for option in section:
        if option != "name" and option not in known:
            raise UserError(
                f"logger.{key}.{option} is not an option of logger '{section['name']}'."
                f"{did_you_mean(option, known)} Its options: {', '.join(known) or 'none'}."
            )
