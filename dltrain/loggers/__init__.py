"""Where logged metrics go besides metrics.jsonl: ``logger=[csv,tensorboard]``.

One module per logger (mmengine's one-hook-per-file style), found by name in ``LOGGERS``. A
logger is a class built with the run folder that has ``log(event, kind)`` (kind: ``step`` for
the events every ``logging.every_n_steps``, ``epoch`` for the end-of-epoch records) and
``close()``, registered with ``@LOGGERS.register("name")`` (``from dltrain.registry import
LOGGERS``); ``requires=(module, pip_spec)`` there names a package it needs, so a missing one is a
clear exit 2 before the run starts. Users register their own the same way in a module listed in
``imports=[...]``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from dltrain.errors import UserError
from dltrain.registry import LOGGERS


def check_loggers(names: Iterable[str]) -> None:
    """Every name is a known logger whose packages are installed (exit 2 naming the fix)."""
    names = list(names)
    if len(set(names)) != len(names):
        raise UserError(f"logger lists a logger twice: {names}. Name each once.")
    for name in names:
        requires = LOGGERS.entry(name).requires
        if requires and importlib.util.find_spec(requires[0]) is None:
            raise UserError(
                f"logger={name} needs the '{requires[0]}' package, which is not installed. "
                f"Install it with: pip install '{requires[1]}' (or drop {name} from logger=[...])."
            )
