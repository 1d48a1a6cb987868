"""No code from config: a config names components, it never imports or calls code.

Hydra imports and calls ``_target_`` (with ``_args_``, ``_partial_``) for its callbacks,
launcher and sweeper, and logging's dictConfig imports the ``class``, ``()`` factories and
``ext://`` objects of hydra.hydra_logging and hydra.job_logging; dltrain builds everything else
by name from its registries. So those keys may appear only where Hydra reads them, each with a
value that dltrain ships, written out; anywhere else, or computed by an interpolation (an
``${oc.env:...}``, a dict from ``${oc.decode:...}``), they are refused with exit 2 naming the
key. ``imports=[...]`` (the user's own modules) must be written out too, and
``hydra.job.env_set`` may not set the variables that make a process load code (LD_PRELOAD, PYTHON*).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from dltrain.config.interpolations import Entry
from dltrain.errors import UserError

# The _target_ of every launcher, sweeper and callback that dltrain ships, by where it goes.
PINNED_TARGETS = {
    "hydra.launcher": frozenset(
        {
            "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
            "hydra_plugins.dltrain_launchers.parallel_launcher.ParallelLauncher",
            "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
            "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
        }
    ),
    "hydra.sweeper": frozenset(
        {
            "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
            "hydra_plugins.dltrain_sweepers.optuna_sweeper.DltrainOptunaSweeper",
        }
    ),
    "hydra.callbacks.*": frozenset({"dltrain.sweep.outcome.SweepOutcome"}),
}
PICK = {"hydra.launcher": "hydra/launcher=NAME", "hydra.sweeper": "hydra/sweeper=NAME"}
LOGGING_SECTIONS = ("hydra.hydra_logging.", "hydra.job_logging.")
LOGGING_CLASSES = frozenset({"logging.StreamHandler", "logging.FileHandler"})
LOGGING_STREAMS = frozenset({"ext://sys.stdout", "ext://sys.stderr"})
NEVER = frozenset({"_args_", "_partial_", "()"})  # Hydra's call arguments, logging factories
# Environment variables that make a process load code: the dynamic loader's and Python's own.
CODE_LOADING_ENV = re.compile(r"(LD_|DYLD_|PYTHON).*|BASH_ENV|ENV")


def refuse_code(entries: list[Entry]) -> None:
    """Exit 2 naming the first key through which the config would import or call code."""
    for entry in entries:
        computed = entry.interpolation is not None
        if computed and entry.key.split(".")[0] == "imports":
            raise UserError(
                f"'{entry.key}' = {entry.interpolation}: the modules to import must be written "
                "out (imports=[my_pkg.models]); an interpolation may not choose code to import."
            )
        for key, name, value in _inside(entry):
            _check(key, name, value, entry.interpolation)


def _inside(entry: Entry) -> Iterator[tuple[str, str, Any]]:
    """The entry itself, and every key inside what its interpolation produced."""
    yield entry.key, entry.name, entry.value
    if entry.interpolation is not None:
        yield from _plain_items(entry.value, entry.key)


def _plain_items(value: Any, prefix: str) -> Iterator[tuple[str, str, Any]]:
    if not isinstance(value, dict | list):
        return
    for name, child in value.items() if isinstance(value, dict) else enumerate(value):
        yield f"{prefix}.{name}", str(name), child
        yield from _plain_items(child, f"{prefix}.{name}")


def _check(key: str, name: str, value: Any, interpolation: str | None) -> None:
    computed = f" (computed by {interpolation})" if interpolation else ""
    if name in NEVER:
        raise UserError(
            f"'{key}'{computed}: a config may not call code, and only Hydra's own plugins are "
            f"built from a config. Remove {key}."
        )
    if name == "_target_":
        _check_target(key, value, computed)
    if key.startswith("hydra.job.env_set.") and CODE_LOADING_ENV.fullmatch(name):
        raise UserError(
            f"'{key}': {name} makes the job's processes load code, so a config may not set it. "
            f"Remove {key}; set {name} in the shell that runs dltrain if you need it."
        )
    logging = key.startswith(LOGGING_SECTIONS)
    if logging and name == "class" and (computed or value not in LOGGING_CLASSES):
        raise UserError(
            f"'{key}' = {value!r}{computed}: Hydra's logging config may only use the handler "
            f"classes Hydra ships ({', '.join(sorted(LOGGING_CLASSES))}), written out. Pick a "
            "shipped logging config instead: hydra/job_logging=default|stdout|disabled|none."
        )
    if logging and str(value).startswith("ext://") and (computed or value not in LOGGING_STREAMS):
        raise UserError(
            f"'{key}' = {value!r}{computed}: logging may only write to "
            f"{' or '.join(sorted(LOGGING_STREAMS))}, written out. Fix {key}."
        )


def _check_target(key: str, value: Any, computed: str) -> None:
    place = _place(key.rpartition(".")[0])
    if place is None:
        raise UserError(
            f"'{key}' = {value!r}{computed}: dltrain builds components by name from its "
            "registries, never from a _target_. Remove it; to add your own component, register "
            "it in a module listed in imports=[...] and pick it by name."
        )
    pinned = PINNED_TARGETS[place]
    if computed or value not in pinned:
        parent = key.rpartition(".")[0]
        fix = f"Pick one with {PICK[place]}" if place in PICK else f"Remove {parent}"
        raise UserError(
            f"'{key}' = {value!r}{computed}: only the {place.rstrip('.*')} targets dltrain ships "
            f"may run ({', '.join(sorted(pinned))}), written out. {fix}."
        )


def _place(parent: str) -> str | None:
    """Where in Hydra's config a _target_ under ``parent`` is read, if anywhere."""
    if parent in PINNED_TARGETS:
        return parent
    return "hydra.callbacks.*" if re.fullmatch(r"hydra\.callbacks\.[^.]+", parent) else None
