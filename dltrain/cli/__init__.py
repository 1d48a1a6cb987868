"""``dltrain <verb>``: the command line. Imports stay light until a verb needs torch.

``VERBS`` is the one list of verbs: dispatch and ``dltrain --help`` both come from it. Each verb
is a module dltrain/cli/<name>.py with ``run(args)`` and ``HELP``; it imports torch (and the
library code it calls) inside ``run``, so ``dltrain --help`` and ``dltrain list`` stay light.

Note: importing the verb modules ``dltrain.cli.list`` and ``dltrain.cli.eval`` binds the names
``list`` and ``eval`` in this module's namespace, so the code here never calls those builtins.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from types import ModuleType

from dltrain.errors import EXIT_USER_ERROR, UserError, exit_codes

HELP_FLAGS = frozenset({"-h", "--help"})


@dataclass(frozen=True)
class Verb:
    name: str
    module: str  # a module with run(args: list[str]) and HELP
    help: str  # one line for dltrain --help
    usage: tuple[str, ...]  # command lines; the first is the usage errors name
    own_help: bool = True  # False: --help goes to the verb (train hands it to Hydra)
    options: bool = False  # configs/<name>.yaml holds its key=value options and defaults
    data: bool = False  # it opens a checkpoint: data.KEY=VALUE overrides the run's data config


VERBS: tuple[Verb, ...] = (
    Verb(
        "train",
        "dltrain.cli.train",
        "train a model; sweeps with -m, Optuna searches with hparams_search=",
        (
            "dltrain train [overrides...]   e.g. model=lenet optimizer.lr=3e-4",
            "dltrain train -m optimizer=sgd,adam optimizer.lr=1e-3,1e-2   (a sweep)",
            "dltrain train hparams_search=fmnist_optuna                   (an Optuna search)",
            "dltrain train --help | --cfg job   (every option | the composed config)",
        ),
        own_help=False,
    ),
    Verb(
        "eval",
        "dltrain.cli.eval",
        "evaluate a checkpoint on the test (or val) split",
        ("dltrain eval RUN_DIR|ckpt=PATH [split=test|val] [output=FILE] [data.KEY=VALUE...]",),
        options=True,
        data=True,
    ),
    Verb(
        "plot",
        "dltrain.cli.plot",
        "PNG curves, confusion matrix, sample predictions of a run (-> RUN_DIR/plots)",
        ("dltrain plot RUN_DIR|ckpt=PATH [split=auto|val|test] [samples=16] [predictions=false]",),
        options=True,
        data=True,
    ),
    Verb(
        "predict",
        "dltrain.cli.predict",
        "run a trained model on image files or a split (-> predictions.csv)",
        ("dltrain predict RUN_DIR|ckpt=PATH input=IMAGE|FOLDER|test|val|train [output=DIR]",),
        options=True,
        data=True,
    ),
    Verb(
        "export",
        "dltrain.cli.export",
        "write the model as torchscript, onnx, safetensors or exported_program, checked",
        ("dltrain export RUN_DIR|ckpt=PATH format=onnx|torchscript|safetensors|exported_program",),
        options=True,
        data=True,
    ),
    Verb(
        "report",
        "dltrain.cli.report",
        "a sweep's (or a run's) jobs, overrides, status and metrics, best first",
        ("dltrain report SWEEP_DIR|RUN_DIR   (-> report.csv, report.md, report.png)",),
        options=True,
    ),
    Verb(
        "list",
        "dltrain.cli.list",
        "the options of each config group (the files in configs/)",
        ("dltrain list [data|model|loss|optimizer|scheduler|precision|distributed|experiment]",),
    ),
    Verb(
        "summary",
        "dltrain.cli.summary",
        "layers, output shapes and parameters of a model",
        (
            "dltrain summary [overrides...]      e.g. model=lenet data=cifar10 (a config)",
            "dltrain summary RUN_DIR|ckpt=PATH   (a trained model)",
        ),
    ),
)
VERB_NAMES = tuple(v.name for v in VERBS)


def usage() -> str:
    """``dltrain --help``: every verb of ``VERBS``, its one line and its command lines."""
    lines = [
        "usage: dltrain <command> [arguments...]      dltrain <command> --help: its options",
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
