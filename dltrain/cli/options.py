"""``key=value`` arguments of the verbs that have a configs/<verb>.yaml, and their help.

Each verb's options and defaults live in configs/<verb>.yaml (eval, plot, predict, export,
report), so ``dltrain <verb> --help`` and its errors list them; one bare argument fills the
verb's positional option (the run: ``dltrain eval RUN_DIR`` is ``dltrain eval ckpt=RUN_DIR``).
``data.*`` arguments are kept apart: they override the checkpoint's own data config
(``data.root=...`` where the files are on this machine). Nothing here imports torch.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dltrain.config.compose import config_dir
from dltrain.errors import UserError
from dltrain.registry import did_you_mean

DATA_PREFIX = "data."
HELP_WIDTH = 100


def parse_options(
    verb: str,
    args: Sequence[str],
    positional: str | None = None,
    aliases: Mapping[str, str] | None = None,
    data: bool = True,
) -> tuple[dict[str, Any], list[str]]:
    """(options, data overrides) of ``dltrain <verb> ARGS``.

    ``positional``: the option one bare argument fills (the run folder or checkpoint);
    ``aliases``: other names of options (plot's ``run=`` for ``ckpt=``); ``data``: whether
    ``data.*`` overrides are taken (a verb that opens a checkpoint). Missing, unknown or
    extra arguments are a UserError (exit 2) naming the verb's usage.
    """
    options = OmegaConf.load(config_dir() / f"{verb}.yaml")
    OmegaConf.set_struct(options, True)
    known = [str(k) for k in options]
    aliases = dict(aliases or {})
    listing = f"Options: {', '.join(known + ['data.*'] * data)}. Usage: {usage(verb)}"
    bare = [a for a in args if "=" not in a]
    if bare and positional is None:
        raise UserError(f"{verb} takes key=value arguments, got '{bare[0]}'. {listing}")
    if len(bare) > 1:
        raise UserError(
            f"{verb} takes one {positional} argument, got {len(bare)}: {' '.join(bare)}. {listing}"
        )
    data_overrides: list[str] = []
    for arg in args:
        if "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        if key in aliases:
            key = aliases[key]
            arg = f"{key}={value}"
        if data and key.startswith(DATA_PREFIX):
            data_overrides.append(arg)
            continue
        if bare and key == positional:
            raise UserError(
                f"{verb} got its {positional} twice: '{bare[0]}' and '{arg}'. Give one. "
                f"Usage: {usage(verb)}"
            )
        try:
            options.merge_with_dotlist([arg])
        except OmegaConfBaseException as err:
            if key in known:
                raise UserError(f"bad value for {verb} option {arg}: {err}") from None
            raise UserError(
                f"{verb} has no option '{key}'.{did_you_mean(key, known)} {listing}"
            ) from None
    if bare:
        options[positional] = bare[0]
    for key in known:
        if OmegaConf.is_missing(options, key):
            raise UserError(f"{verb} needs {key}=... (usage: {usage(verb)}; --help lists all).")
    return OmegaConf.to_container(options), data_overrides


def usage(verb: str) -> str:
    """The verb's usage line, from the one verb table."""
    from dltrain.cli.verbs import VERBS

    for entry in VERBS:
        if entry.name == verb:
            return entry.usage[0]
    return f"dltrain {verb} --help"


def option_rows(verb: str) -> list[tuple[str, str, str]]:
    """(key, default, comment) of every option in configs/<verb>.yaml, in the file's order."""
    path = config_dir() / f"{verb}.yaml"
    if not path.is_file():
        return []
    rows: list[list[str]] = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue  # the file's own header
        if line[0].isspace():  # a comment continued on the next line
            text = line.strip().lstrip("#").strip()
            if rows and text:
                rows[-1][2] = f"{rows[-1][2]} {text}".strip()
            continue
        key, _, rest = line.partition(":")
        default, _, comment = rest.partition(" #")
        rows.append([key.strip(), default.strip(), comment.strip().lstrip("#").strip()])
    return [(key, default, comment) for key, default, comment in rows]


def options_help(verb: str, data_overrides: bool = True) -> list[str]:
    """The ``options`` block of ``dltrain <verb> --help`` (empty without configs/<verb>.yaml)."""
    rows = [(k, "required" if d == "???" else d, c) for k, d, c in option_rows(verb)]
    if not rows:
        return []
    if data_overrides:
        rows.append(("data.*", "", "any data key of the run's config (data.root=... here)"))
    key_width = max(len(r[0]) for r in rows) + 2
    default_width = max(len(r[1]) for r in rows) + 2
    indent = " " * (2 + key_width + default_width)
    lines = [f"options (key=value; defaults from configs/{verb}.yaml):"]
    for key, default, comment in rows:
        first = f"  {key:<{key_width}}{default:<{default_width}}"
        wrapped = textwrap.wrap(comment, HELP_WIDTH - len(indent)) or [""]
        lines.append(f"{first}{wrapped[0]}".rstrip())
        lines += [f"{indent}{more}" for more in wrapped[1:]]
    return lines
