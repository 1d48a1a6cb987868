"""Tab completion (``dltrain train -sc install=bash``) through Hydra's own completion plugins.

Hydra's scripts call ``PROGRAM -sc query=SHELL`` and its queries read the whole ``COMP_LINE``
as overrides. dltrain is a program with verbs, so the installed script must call
``dltrain train -sc query=SHELL``, and a query drops the verb from ``COMP_LINE`` before Hydra
reads it. Before the verb, a query offers the verbs; after another verb, nothing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from contextlib import redirect_stdout

from dltrain.config.command_line import HydraArgs, parse_args
from dltrain.errors import RunError, UserError

# How each of Hydra's install scripts calls the program, and how it must call dltrain.
_QUERY_CALLS = {
    "bash": ("$helper -sc query=bash", "$helper train -sc query=bash 2>/dev/null"),
    "zsh": ("$helper -sc query=bash", "$helper train -sc query=bash 2>/dev/null"),
    "fish": ('"$cmd -sc query=fish"', '"$cmd train -sc query=fish 2>/dev/null"'),
}


def install_script(run_hydra: Callable[[], None], shell: str) -> str:
    """Hydra's install script for ``shell`` (printed by ``run_hydra``), calling the verb."""
    if shell not in _QUERY_CALLS:
        raise UserError(
            f"dltrain train -sc install={shell}: no completion for '{shell}'. "
            f"Use one of {', '.join(_QUERY_CALLS)}: "
            'eval "$(dltrain train -sc install=bash)".'
        )
    printed = io.StringIO()
    with redirect_stdout(printed):
        run_hydra()
    hydra_call, dltrain_call = _QUERY_CALLS[shell]
    if hydra_call not in printed.getvalue():
        raise RunError(f"this Hydra's {shell} completion script no longer calls {hydra_call}.")
    return printed.getvalue().replace(hydra_call, dltrain_call)


def _split(comp_line: str) -> tuple[list[str], str]:
    """The line's finished words and the word under completion ("" after a space)."""
    words = comp_line.split()
    partial = "" if comp_line.endswith(" ") or not words else words.pop()
    return words, partial


def verb_choices(comp_line: str, verbs: list[str]) -> list[str]:
    """The verbs that complete ``dltrain PARTIAL`` (nothing once a verb is written)."""
    words, partial = _split(comp_line)
    if len(words) != 1:
        return []
    return [verb for verb in verbs if verb.startswith(partial)]


def config_flags(words: list[str]) -> list[str]:
    """The --config-name/-path/-dir flags on the line being completed, so the query composes
    from the same configs as the command will."""
    try:
        command = parse_args(words)
    except UserError:  # a half-written line: complete from dltrain's own configs
        return []
    return [a for a in command.argv() if a.startswith("--config-")]


def prepare_query(command: HydraArgs, verbs: list[str]) -> list[str] | None:
    """Set up ``-sc query=SHELL`` for Hydra: COMP_LINE without the verb, and the argv Hydra
    needs (the line's config flags). None: answered here (``verbs``, or nothing)."""
    line = os.environ.get("COMP_LINE", "")
    words, partial = _split(line)
    if words[1:2] != ["train"]:
        print(" ".join(verb_choices(line, verbs)))
        return None
    os.environ["COMP_LINE"] = " ".join(["dltrain", *words[2:], partial])
    return [*config_flags(words[2:]), *command.argv()]
