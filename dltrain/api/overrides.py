"""Overrides for the Python API: a list of ``key=value`` strings as on the command line, or a
dict written out as that list.

A dict's nested dicts become dotted keys, its lists Hydra's list syntax, and a string that
Hydra would read as something else (``"a,b"``, ``"true"``, a space or quote) is quoted, so the
value arrives as given. Group picks are strings: ``{"model": "lenet", "model.dropout": 0.1}``
(``{"model": {"dropout": 0.1}}`` sets a key of the default model instead). Hydra's own
override parser decides what needs quoting, so the rule is Hydra's, not a second grammar.
Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from dltrain.errors import UserError

if TYPE_CHECKING:
    from dltrain.config.command_line import HydraArgs

Overrides = Sequence[str] | Mapping[str, Any]


def as_overrides(overrides: Overrides) -> list[str]:
    """``overrides`` as the ``key=value`` list the command line would hold."""
    if isinstance(overrides, str):
        raise UserError(
            f"overrides must be a list of key=value strings or a dict, not one string "
            f"({overrides!r}): write [{overrides!r}]."
        )
    if isinstance(overrides, Mapping):
        return [f"{key}={_value(value, '{}')}" for key, value in _flatten(overrides)]
    return [str(override) for override in overrides]


def one_run(args: list[str], caller: str) -> HydraArgs:
    """``args`` read by ``dltrain train``'s own parser (so --config-dir and --config-name work
    as there); a flag that asks for anything but one run (-m, --cfg, --help, -sc) is refused."""
    from dltrain.config.command_line import parse_args

    command = parse_args(args)
    if command.multirun or not command.runs:
        flags = ", ".join(arg for arg in args if arg.startswith("-"))
        raise UserError(
            f"{caller} takes one run's overrides, and {flags} asks for something else. Drop "
            "it: sweep with `dltrain train -m ...`, print a config with dltrain.compose(...)."
        )
    return command


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in mapping.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, full)
        else:
            yield full, value


def _value(value: Any, context: str) -> str:
    """One value in Hydra's override syntax; ``context`` places a string where it will sit
    (``{}`` alone, ``[{}]`` in a list), to ask Hydra's parser whether it needs quotes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | PurePath):
        return _text(str(value), context)
    if isinstance(value, Mapping):
        items = (f"{key}: {_value(item, '[{}]')}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(_value(item, "[{}]") for item in value) + "]"
    raise UserError(
        f"cannot write {value!r} ({type(value).__name__}) as an override value: use a str, "
        "number, bool, None, list or dict."
    )


def _text(text: str, context: str) -> str:
    from hydra.errors import HydraException

    from dltrain.sweep.overrides import parse
    from dltrain.train.run_folder import hydra_quoted

    try:
        (override,) = parse([f"key={context.format(text)}"])
        parsed = override.value()
    except (HydraException, UserError, ValueError):
        return hydra_quoted(text)
    wanted = text if context == "{}" else [text]
    return text if parsed == wanted and type(parsed) is type(wanted) else hydra_quoted(text)
