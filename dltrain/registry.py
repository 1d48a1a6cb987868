"""Name -> component registries, each entry with the typed facts dltrain checks before building.

Configs pick components by short name, never by dotted import paths, so a config cannot call
arbitrary code. A component registers itself where it is defined::

    @MODELS.register("unet", task="segmentation")
    class UNet(nn.Module): ...

Built-in components are found the way mmengine finds them: a registry knows the modules that
define its built-ins (``locations``) and imports them the first time a name is looked up, so
``dltrain --help``, ``dltrain list`` (which reads the config files) and config errors never pay
for ``import torch``. Users add their own components with the same decorator in a module named
in ``imports=[...]``. Adding a model or a data set takes two edits: its module and its YAML.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dltrain.errors import UserError
from dltrain.plugins import import_user_modules as import_user_modules  # (re-exported)

Check = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class Entry:
    """A registered component and what dltrain must know about it before building it."""

    name: str
    target: Callable[..., Any]  # the class or function that builds it
    task: str | None = None  # models: the task their outputs serve (decides targets, metrics)
    tasks: frozenset[str] | None = None  # data sets, losses: tasks they serve (None: any)
    needs: str = ""  # losses that fit no task: what their inputs must be (the refusal's reason)
    requires: tuple[str, str] | None = None  # an optional package: (module, pip install spec)
    check: Check | None = None  # torch-free check of its config section, before any write


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name a typo most likely meant, or None."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    guess = closest(name, known)
    return f" Did you mean '{guess}'?" if guess else ""


class Registry:
    """Maps names to entries for one kind of component."""

    def __init__(self, kind: str, symbol: str, locations: Iterable[str] = ()) -> None:
        """``symbol``: the registry's importable name, for hints; ``locations``: the modules
        (or packages, every module in them) whose import registers the built-ins."""
        self.kind, self.symbol = kind, symbol
        self._locations = tuple(locations)
        self._loaded = not self._locations
        self._entries: dict[str, Entry] = {}

    def register(self, name: str | None = None, **facts: Any) -> Callable[[Callable], Callable]:
        """Decorator: ``@MODELS.register("my_net", task="classification")`` (default name: the
        object's own); ``facts`` are the fields of ``Entry``."""

        def add(target: Callable) -> Callable:
            self.add(name or target.__name__, target, **facts)
            return target

        return add

    def add(self, name: str, target: Callable[..., Any], **facts: Any) -> None:
        """Register ``target`` under ``name`` (for objects defined elsewhere, e.g. torch's)."""
        facts = {**self._inherited(target), **facts}
        if facts.get("tasks") is not None:
            facts["tasks"] = frozenset(facts["tasks"])
        old = self._entries.get(name)
        if old is not None and old.target is not target:
            raise UserError(f"{self.kind} '{name}' is registered twice.")
        self._entries[name] = Entry(name, target, **facts)

    def _inherited(self, target: Callable[..., Any]) -> dict[str, Any]:
        """The facts of the nearest registered base class: a subclass of UNet is a
        segmentation model unless it says otherwise."""
        for base in getattr(target, "__mro__", ())[1:]:
            for entry in self._entries.values():
                if entry.target is base:
                    facts = {f.name: getattr(entry, f.name) for f in dataclasses.fields(Entry)}
                    return {k: v for k, v in facts.items() if k not in ("name", "target")}
        return {}

    def _load_builtins(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for location in self._locations:
            module = importlib.import_module(location)
            for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
                importlib.import_module(f"{location}.{info.name}")

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_builtins()
        return name in self._entries

    def check(self, name: str) -> None:
        """Fail with the known names and the closest match when ``name`` is unknown."""
        if name not in self:
            known = ", ".join(self.names())
            raise UserError(
                f"unknown {self.kind} '{name}'.{did_you_mean(name, self.names())} "
                f"Known {self.kind} names: {known}. Register your own with "
                f"@{self.symbol}.register('{name}') (from dltrain.registry import {self.symbol}) "
                "in a module listed in imports=[...]."
            )

    def entry(self, name: str) -> Entry:
        self.check(name)
        return self._entries[name]

    def get(self, name: str) -> Callable[..., Any]:
        return self.entry(name).target

    def build(
        self,
        section: Mapping[str, Any],
        *args: Any,
        exclude: Iterable[str] = ("name",),
        where: str | None = None,
        **extra: Any,
    ) -> Any:
        """Call the named builder with the section's keys (less ``exclude``), plus the
        ``extra`` keywords it accepts; a key it does not accept is exit 2 naming its options.

        ``where`` is the section's config key in messages (default: the kind, e.g.
        ``scheduler.schedulers[1]`` for a nested one). A value the builder rejects (TypeError,
        ValueError) is exit 2 naming the key found to cause it (see ``blame``).
        """
        name, where = section["name"], where or self.kind
        builder = self.get(name)
        skip = set(exclude)
        options = {k: v for k, v in section.items() if k not in skip}
        params = inspect.signature(builder).parameters
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        passed = {k: v for k, v in extra.items() if k in params or accepts_any}
        unknown = [] if accepts_any else sorted(set(options) - set(params))
        if unknown:
            names = [p for p in params if p not in ("self", "params", "optimizer", *extra)]
            raise UserError(
                f"{where}.{unknown[0]} is not an option of {self.kind} '{name}'."
                f"{did_you_mean(unknown[0], names)} Its options: {', '.join(names)}."
            )
        try:
            return builder(*args, **{**options, **passed})
        except (TypeError, ValueError) as err:
            key = blame(lambda kept: builder(*args, **{**kept, **passed}), options)
            if key is None:
                raise UserError(
                    f"cannot build {self.kind} '{name}': {err}. Check its {where}.* options."
                ) from None
            default = params[key].default if key in params else inspect.Parameter.empty
            hint = "" if default is inspect.Parameter.empty else f" ({name}'s default: {default})"
            raise UserError(
                f"cannot build {self.kind} '{name}': {where}.{key}={options[key]} is refused: "
                f"{err}. Change {where}.{key}{hint}."
            ) from None


def blame(attempt: Callable[[dict[str, Any]], Any], options: Mapping[str, Any]) -> str | None:
    """The option that makes ``attempt(options)`` fail: the first one that, left out (so the
    builder's default applies), lets it succeed; None when no single option does.

    This names the config key behind an error a library raises without reading its message.
    """
    for key in options:
        try:
            attempt({k: v for k, v in options.items() if k != key})
        except Exception:  # noqa: BLE001 - any failure: this key alone is not the cause
            continue
        return key
    return None


DATA = Registry("data", "DATA", ["dltrain.data"])
MODELS = Registry("model", "MODELS", ["dltrain.models"])
LOSSES = Registry(
    "loss", "LOSSES", ["dltrain.components.losses", "dltrain.components.segmentation_losses"]
)
OPTIMIZERS = Registry("optimizer", "OPTIMIZERS", ["dltrain.components.optimizers"])
SCHEDULERS = Registry("scheduler", "SCHEDULERS", ["dltrain.components.schedulers"])
METRICS = Registry(  # metrics=[...]: the extra metrics (dltrain/metrics/catalog.py)
    "metric",
    "METRICS",
    [f"dltrain.metrics.{task}" for task in ("classification", "segmentation", "regression")],
)
LOGGERS = Registry("logger", "LOGGERS", ["dltrain.loggers"])
CALLBACKS = Registry("callback", "CALLBACKS", ["dltrain.callbacks"])

# The registries whose names a config group picks (``dltrain list`` shows these groups).
REGISTRIES: dict[str, Registry] = {
    "data": DATA,
    "model": MODELS,
    "loss": LOSSES,
    "optimizer": OPTIMIZERS,
    "scheduler": SCHEDULERS,
    "callbacks": CALLBACKS,
    "logger": LOGGERS,
}
