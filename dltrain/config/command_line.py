"""``dltrain train``'s command line, read by Hydra's own argument parser (the flags that pick
the config: --config-name, --config-dir, ... and what Hydra should do with it).

hydra.main parses the same arguments with the same parser, so every flag (``--config-dir``,
``--config-name``, ``-m``, ``--cfg``, ``-sc``, ...) means here what it means to Hydra, and
preflight checks the config that Hydra will run. Flags and overrides may be mixed in any
order; ``argv`` hands Hydra the same command with the flags first.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import NoReturn

from dltrain.config.compose import ConfigSource
from dltrain.errors import UserError

# Hydra commands that print something and run nothing; exactly one at a time (as Hydra).
_COMMANDS = ("run", "multirun", "cfg", "info", "shell_completion")


class _Parser(argparse.ArgumentParser):
    """Hydra's arguments, failing with a UserError (exit 2, the fix named) instead of usage."""

    def error(self, message: str) -> NoReturn:
        raise UserError(
            f"dltrain train: {message}. Overrides are key=value; `dltrain train --help` "
            "lists Hydra's flags (--config-dir DIR, --config-name NAME, -m, --cfg job, ...)."
        )


def _hydra_parser() -> argparse.ArgumentParser:
    """The arguments of hydra._internal.utils.get_args_parser(), what hydra.main parses with."""
    from hydra._internal.utils import get_args_parser

    return _Parser(prog="dltrain train", add_help=False, parents=[get_args_parser()])


@dataclass(frozen=True)
class HydraArgs:
    """The parsed command line: Hydra's namespace and the decisions dltrain takes from it."""

    namespace: argparse.Namespace
    parser: argparse.ArgumentParser

    @property
    def overrides(self) -> list[str]:
        return list(self.namespace.overrides)

    @property
    def multirun(self) -> bool:
        return bool(self.namespace.multirun)

    @property
    def runs(self) -> bool:
        """Hydra will start a run or a sweep (no help, --cfg, --info or -sc)."""
        ns = self.namespace
        return not (ns.help or ns.hydra_help or ns.cfg or ns.info or ns.shell_completion)

    @property
    def shows_config(self) -> bool:
        """--cfg or --info: Hydra composes the config and prints it (or facts about it)."""
        return bool(self.namespace.cfg or self.namespace.info)

    @property
    def source(self) -> ConfigSource:
        """--config-name, --config-path, --config-dir: where the config comes from."""
        ns = self.namespace
        path = ns.config_path
        if path is not None and not path.startswith("pkg://"):
            path = os.path.abspath(path)  # relative to where the user is, not to dltrain/cli
        return ConfigSource(ns.config_name or "train", path, ns.config_dir)

    def argv(self) -> list[str]:
        """The same command for hydra.main: every flag given, then the overrides."""
        flags = []
        for action in self.parser._actions:
            value = getattr(self.namespace, action.dest, None)
            if not action.option_strings or value in (None, False, action.default):
                continue
            option = action.option_strings[0]
            if option == "--config-path":
                value = self.source.config_path
            flags.append(option if value is True else f"{option}={value}")
        return [*flags, *self.overrides]


def parse_args(args: list[str]) -> HydraArgs:
    """Parse ``args`` as hydra.main would; refuse what Hydra would refuse, with exit 2."""
    parser = _hydra_parser()
    namespace = parser.parse_intermixed_args(args)
    hydra_args = HydraArgs(namespace, parser)
    commands = [name for name in _COMMANDS if getattr(namespace, name)]
    if len(commands) > 1:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in commands)
        raise UserError(
            f"dltrain train: {flags} cannot be combined; Hydra does one of them at a time. "
            "Drop all but one (e.g. `dltrain train --cfg job ...` prints, `-m` sweeps)."
        )
    if namespace.resolve and not (namespace.cfg or namespace.help):
        raise UserError("dltrain train: --resolve only works with --cfg or --help; add --cfg job.")
    if namespace.package and not namespace.cfg:
        raise UserError("dltrain train: --package/-p only works with --cfg; add --cfg job.")
    if namespace.experimental_rerun is not None:
        raise UserError(
            "dltrain train: --experimental-rerun loads a pickle, and dltrain runs no code from "
            "files. To run a run again, start the same command with hydra.run.dir=THAT_FOLDER."
        )
    return hydra_args
