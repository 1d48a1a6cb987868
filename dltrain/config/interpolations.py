"""Every value of a composed config resolved once, before any folder exists.

OmegaConf resolves ``${...}`` lazily, so an unset ``${oc.env:VAR}``, a value that refers to
itself or a resolver's bad input used to surface only when the run read the value, after Hydra
had made the run folder. Resolving the whole tree here turns each of them, and a required value
left ``???`` (``~scheduler``), into exit 2 naming the key. The entries it returns are what
no_code.py checks: the raw place of each key and what its interpolation produced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import Container, DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from dltrain.config.schema import COMPONENT_GROUPS
from dltrain.errors import UserError


class _Section:
    """An Entry's value for a section (a dict or list written out in the config)."""

    def __repr__(self) -> str:
        return "a section"


SECTION = _Section()
# The command line as typed (text Hydra never resolves), not values.
COMMAND_LINE_TEXT = ("hydra.overrides", "hydra.job.override_dirname")
_UNKNOWN = object()  # filled by Hydra when the job starts (hydra.runtime.*, hydra.job.num)


@dataclass(frozen=True)
class Entry:
    """One key of the config: its full name, its resolved value, and its ``${...}`` text."""

    key: str  # e.g. hydra.callbacks.sweep_outcome._target_
    name: str  # the last part: _target_
    value: Any  # a plain value (an interpolated section comes back as a plain dict or list)
    interpolation: str | None = None  # the raw ${...}, when the value was computed


def resolve_all(cfg: DictConfig) -> list[Entry]:
    """Resolve every value of ``cfg`` (exit 2 naming the key of any that cannot resolve)."""
    return list(_walk(cfg, ""))


def _walk(node: Container, prefix: str) -> Iterator[Entry]:
    names = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for name in names:
        key = f"{prefix}{name}"
        if key in COMMAND_LINE_TEXT:
            continue
        child = node._get_node(name)
        written = not (child._is_interpolation() or child._is_missing() or child._is_none())
        if isinstance(child, Container) and written:
            yield Entry(key, str(name), SECTION)
            yield from _walk(child, f"{key}.")
            continue
        value = _resolve(node, name, key)
        if value is not _UNKNOWN:
            raw = child._value() if child._is_interpolation() else None
            yield Entry(key, str(name), value, raw if isinstance(raw, str) else None)


def _resolve(node: Container, name: Any, key: str) -> Any:
    """The value of ``node[name]`` as the run will read it."""
    try:
        value = node[name]
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    except MissingMandatoryValue:
        if key.startswith("hydra."):
            return _UNKNOWN
        raise UserError(_missing_message(key)) from None
    except OmegaConfBaseException as err:
        if key.startswith("hydra.") and "Missing mandatory value: hydra." in str(err):
            return _UNKNOWN
        raw = node._get_node(name)._value()
        raise UserError(_resolution_message(key, raw, err)) from None


def _missing_message(key: str) -> str:
    if key in COMPONENT_GROUPS:
        return (
            f"'{key}' has no option: every run needs one (a `~{key}` override removes it). "
            f"Pick one with {key}=NAME (`dltrain list {key}` shows them)."
        )
    return f"'{key}' has no value (???). Set it on the command line: {key}=VALUE."


def _resolution_message(key: str, raw: Any, err: Exception) -> str:
    reason = str(err).splitlines()[0]
    if "Recursive interpolation" in reason:
        return (
            f"'{key}' = {raw} refers to itself, so it has no value. "
            f"Give {key} a value (e.g. {key}=5) or point it at another key."
        )
    if "Environment variable" in reason:
        return (
            f"cannot resolve '{key}' = {raw}: {reason.split(': ', 1)[-1]}. Set the variable, "
            "or give a default after a comma: ${oc.env:NAME,default}."
        )
    return (
        f"cannot resolve '{key}' = {raw}: {reason}. Fix the value of {key} (interpolations "
        "are ${other.key}, ${oc.env:NAME,default}, ${prod:[a,b]} with numbers)."
    )
