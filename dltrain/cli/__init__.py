"""``dltrain <verb>``: the command line. Imports stay light until a verb needs torch.

``VERBS`` (verbs.py) is the one list of verbs: dispatch and ``dltrain --help`` both come from
it. Each verb is a module dltrain/cli/<name>.py with ``run(args)`` and ``HELP``; it imports
torch (and the library code it calls) inside ``run``, so ``dltrain --help`` and ``dltrain list``
stay light.

Note: importing the verb modules ``dltrain.cli.list`` and ``dltrain.cli.eval`` binds the names
``list`` and ``eval`` in this module's namespace, so the code here never calls those builtins.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

from dltrain.cli.verbs import VERBS, Verb
from dltrain.errors import EXIT_USER_ERROR, UserError, exit_codes

HELP_FLAGS = frozenset({"-h", "--help"})
VERSION_FLAGS = frozenset({"-V", "--version"})


VERB_NAMES = tuple(v.name for v in VERBS)


def usage() -> str:
    """``dltrain --help``: every verb of ``VERBS``, its one line and its command lines."""
    lines = [
        "usage: dltrain <command> [arguments...]      dltrain <command> --help: its options",
        "       dltrain --version",
        "",
        "Config-driven PyTorch training: Hydra config groups, built from registries by name.",
        "",
        "commands:",
    ]
    for verb in VERBS:
        lines.append(f"  {verb.name:<9} {verb.help}")
        lines += [f"              {line}" for line in verb.usage]
    lines += [
        "",
        "Exit codes: 0 done, 2 wrong input (message says the fix), 1 the run failed.",
        "Set HYDRA_FULL_ERROR=1 to see tracebacks.",
    ]
    return "\n".join(lines)


def version() -> str:
    """``dltrain --version``: the installed distribution's version (importlib.metadata reads
    the wheel's or the editable install's metadata, so it names what pip installed); the
    package's own ``__version__`` where dltrain runs from a source tree without installing."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("dltrain")
    except PackageNotFoundError:
        from dltrain import __version__

        return __version__


def find_verb(name: str) -> Verb:
    for verb in VERBS:
        if verb.name == name:
            return verb
    from dltrain.registry import did_you_mean

    hint = did_you_mean(name, VERB_NAMES)
    raise UserError(f"unknown command '{name}'.{hint} Run dltrain --help.")


def verb_module(verb: Verb) -> ModuleType:
    return importlib.import_module(verb.module)


def verb_help(verb: Verb) -> str:
    """``dltrain <verb> --help``: usage, what it does, its options and their defaults."""
    from dltrain.cli.options import options_help

    lines = [f"usage: {verb.usage[0]}", *(f"       {line}" for line in verb.usage[1:]), ""]
    lines.append(f"{verb.help[0].upper()}{verb.help[1:]}.")
    text = verb_module(verb).HELP.strip()
    if text:
        lines += ["", text]
    if verb.options:
        lines += ["", *options_help(verb.name, data_overrides=verb.data)]
    return "\n".join(lines)


def dispatch(name: str, args: list[str]) -> None:
    """Run verb ``name`` on ``args`` (``-h``/``--help``: print its help instead)."""
    verb = find_verb(name)
    if verb.own_help and HELP_FLAGS.intersection(args):
        print(verb_help(verb))
        return
    verb_module(verb).run(args)


def main(argv: list[str] | None = None) -> None:
    argv = [*(sys.argv[1:] if argv is None else argv)]
    try:
        with exit_codes():
            if len(argv) == 1 and argv[0] in VERSION_FLAGS:
                print(f"dltrain {version()}")
                return
            if not argv or argv[0] in (*HELP_FLAGS, "help"):
                if len(argv) == 2 and argv[0] == "help":  # dltrain help VERB
                    print(verb_help(find_verb(argv[1])))
                    return
                print(usage())
                sys.exit(0 if argv else EXIT_USER_ERROR)
            dispatch(argv[0], argv[1:])
    except KeyboardInterrupt:
        print("dltrain: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `dltrain list | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
