"""Composition as Hydra does it, with errors a user can act on, and where configs/ lives.

The schema (schema.py) is stored as ``train_schema``, so a typo'd key or a wrong type in a
fixed section fails here, at composition. Nothing here imports torch.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from dltrain.config.schema import RunConfig
from dltrain.errors import UserError
from dltrain.registry import did_you_mean


def _product(values: Any) -> int:
    return math.prod(int(v) for v in values)


def _picked(group: str, *, _root_: DictConfig) -> str | None:
    """``${picked:experiment}``: the option picked in a config group (None: none was).

    Read from the composed config's ``hydra`` node (preflight), or inside Hydra's job, whose
    config has none, from Hydra's runtime config; both record every group's choice. It lets a
    YAML default name a choice (logger.mlflow.experiment_name) resolved once into config.yaml.
    """
    if "hydra" in _root_:
        return _root_.hydra.runtime.choices.get(group)
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.choices.get(group) if HydraConfig.initialized() else None


def register_schemas() -> None:
    """Make the schema and the ``${prod:...}`` and ``${picked:GROUP}`` resolvers known to
    Hydra and OmegaConf."""
    ConfigStore.instance().store(name="train_schema", node=RunConfig)
    if not OmegaConf.has_resolver("prod"):
        OmegaConf.register_new_resolver("prod", _product)
    if not OmegaConf.has_resolver("picked"):
        OmegaConf.register_new_resolver("picked", _picked)
    _register_plugins()


def _register_plugins() -> None:
    """hydra/sweeper=dltrain_optuna and hydra/launcher=parallel, registered by hand: Hydra
    finds plugins by listing the hydra_plugins folders, which misses an editable install's.
    Both modules are light (no optuna, no torch)."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.dltrain_launchers.parallel_launcher import ParallelLauncher
    from hydra_plugins.dltrain_sweepers.optuna_sweeper import DltrainOptunaSweeper

    for plugin in (ParallelLauncher, DltrainOptunaSweeper):
        Plugins.instance().register(plugin)


def config_dir() -> Path:
    """The configs/ folder: the repository's in a checkout, the installed copy otherwise."""
    checkout = Path(__file__).resolve().parents[2] / "configs"
    if (checkout / "train.yaml").is_file():
        return checkout
    return Path(str(resources.files("dltrain.configs")))


def group_options(group: str) -> list[str]:
    folder = config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


JOB_NAME = "train"  # what hydra.main names the job of dltrain.cli.train (${hydra.job.name})


@dataclass(frozen=True)
class ConfigSource:
    """Where a command line's config comes from: Hydra's --config-name, --config-path and
    --config-dir. Preflight composes from the same source as the run, so it checks exactly the
    config that will run."""

    config_name: str = "train"
    config_path: str | None = None  # the primary config folder; None: dltrain's configs/
    config_dir: str | None = None  # an extra folder searched after the primary one

    def search_path(self) -> Any:
        """The config search path exactly as hydra.main builds it for these flags."""
        from hydra._internal.utils import create_config_search_path
        from hydra.core.config_search_path import SearchPathQuery

        search_path = create_config_search_path(self.config_path or str(config_dir()))
        if self.config_dir is not None:
            extra = os.path.abspath(self.config_dir)
            if not os.path.isdir(extra):
                raise UserError(
                    f"--config-dir {self.config_dir}: there is no folder {extra}. "
                    "Point --config-dir at a folder of YAML configs (e.g. one with experiment/)."
                )
            search_path.prepend("command-line", f"file://{extra}", SearchPathQuery("schema"))
        return search_path


DEFAULT_SOURCE = ConfigSource()

_COMPOSED: dict[tuple[ConfigSource, tuple[str, ...]], DictConfig] = {}


def compose(overrides: list[str], source: ConfigSource = DEFAULT_SOURCE) -> DictConfig:
    """Compose the config as Hydra would, turning Hydra's errors into UserErrors.

    Each distinct override list is composed once per process (a composition costs ~0.15 s and
    the pre-flight checks ask for the same one more than once); callers get their own copy.
    """
    key = (source, tuple(overrides))
    if key not in _COMPOSED:
        _COMPOSED[key] = _compose(list(overrides), source)
    return copy.deepcopy(_COMPOSED[key])


def _compose(overrides: list[str], source: ConfigSource) -> DictConfig:
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.hydra import Hydra
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )
    from hydra.types import RunMode

    register_schemas()
    try:
        hydra = Hydra(JOB_NAME, ConfigLoaderImpl(source.search_path()))  # as hydra.main's
        return hydra.compose_config(source.config_name, overrides, RunMode.RUN)
    except MissingConfigException as err:
        raise UserError(_missing_option_message(err)) from None
    except OverrideParseException as err:
        from dltrain.sweep.overrides import parse

        parse(overrides)  # names the override that fails and how to write it
        raise UserError(f"cannot parse the overrides: {err}") from None
    except ConfigCompositionException as err:
        raise UserError(_composition_message(err, overrides, source)) from None
    except yaml.YAMLError as err:  # a config file that is not YAML (a user's --config-dir)
        mark = getattr(err, "problem_mark", None)
        where = f"{mark.name}, line {mark.line + 1}" if mark else "a config file"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{where} is not valid YAML: {problem}. Fix the YAML there.") from None
    except ValueError as err:  # e.g. `model=nan`: Hydra parses the value as a float
        raise UserError(
            f"cannot apply the overrides {overrides}: {err}. Quote values that "
            "look like numbers, e.g. model='\"nan\"'."
        ) from None


def _missing_option_message(err: Exception) -> str:
    missing = getattr(err, "missing_cfg_file", "") or ""
    options = list(getattr(err, "options", None) or [])
    if "/" in missing:
        group, choice = missing.rsplit("/", 1)
        options = options or group_options(group)  # a list pick (callbacks=[a,b]) has none
        hint = did_you_mean(choice, options)
        return (
            f"{group}={choice}: there is no {group} option '{choice}'.{hint}"
            f" Known {group} options: {', '.join(options)}. (`dltrain list {group}` shows them.)"
        )
    return (
        f"{str(err).strip()}\nFix: put {missing or 'the config'}.yaml in a folder and add "
        "--config-dir FOLDER (or drop --config-name to use dltrain's train config)."
    )


def _composition_message(err: Exception, overrides: list[str], source: ConfigSource) -> str:
    cause = err.__cause__
    full_key = getattr(cause, "full_key", None)
    text = str(cause or err).splitlines()[0]
    if full_key and isinstance(cause, ConfigKeyError | ConfigAttributeError):
        parent, _, key = full_key.rpartition(".")
        known = _known_keys(parent, overrides, source)
        prefix = f"{parent}." if parent else ""
        hint = did_you_mean(full_key, [prefix + k for k in known])
        if parent in ("callbacks", "logger") and key in group_options(parent):
            hint = f" {parent}.{key} is not picked: add {parent}=[{key}] (a list, in order)."
        listing = f" Keys of {parent or 'the config'}: {', '.join(known)}." if known else ""
        return (
            f"unknown config key '{full_key}'.{hint}{listing} To add a new key on purpose, "
            f"write +{full_key}=VALUE."
        )
    if full_key:
        return f"bad value for '{full_key}': {text}. Fix the override for {full_key}."
    return f"{str(err).strip()}"


def selection_overrides(overrides: list[str]) -> list[str]:
    """The overrides that pick group options or set Hydra itself (search path, ...)."""
    groups = {p.name for p in config_dir().iterdir() if p.is_dir()}
    keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides]
    return [
        o
        for o, key in zip(overrides, keys, strict=True)
        if key in groups or key.startswith(("hydra.", "hydra/"))
    ]


def _known_keys(parent: str, overrides: list[str], source: ConfigSource) -> list[str]:
    """The keys of ``parent`` under the same group choices, for 'did you mean' hints."""
    selection = selection_overrides(overrides)
    if selection == overrides:
        return []  # these very overrides failed to compose: no recursion into the same error
    try:
        cfg = compose(selection, source)
    except UserError:
        return []
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return sorted(k for k in node if k != "hydra") if isinstance(node, DictConfig) else []
