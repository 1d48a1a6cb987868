"""``dltrain <verb>``: the command line. Imports stay light until a verb needs torch."""

from __future__ import annotations

import os
import sys

from dltrain.errors import EXIT_USER_ERROR, UserError, exit_codes

USAGE = """usage: dltrain <command> [overrides...]

Config-driven PyTorch training: Hydra config groups, built from registries by name.

commands:
  train     train a model:      dltrain train model=lenet optimizer.lr=3e-4 trainer.max_epochs=5
            sweep (multirun):   dltrain train -m optimizer=sgd,adam optimizer.lr=1e-3,1e-2
            Optuna search:      dltrain train hparams_search=fmnist_optuna
            every option:       dltrain train --help
            composed config:    dltrain train --cfg job
  eval      evaluate a checkpoint on the test split:
                                dltrain eval ckpt=outputs/DATE/TIME [split=val] [data.root=...]
  plot      PNG curves, confusion matrix, sample predictions of a run:
                                dltrain plot outputs/DATE/TIME        (-> RUN_DIR/plots/*.png)
  predict   run a trained model on images or a split:
                                dltrain predict ckpt=RUN_DIR input=IMAGE_OR_FOLDER|test
  export    write the model as torchscript, onnx, safetensors or exported_program:
                                dltrain export ckpt=RUN_DIR format=onnx [output=model.onnx]
  report    a sweep's (or a run's) jobs, overrides, status and metrics, best first:
                                dltrain report SWEEP_DIR   (-> report.csv, report.md, report.png)
  list      registered component names:      dltrain list [data|model|loss|optimizer|scheduler]
  summary   layers, output shapes, parameters: dltrain summary model=lenet [data=...]

Exit codes: 0 done, 2 wrong input (message says the fix), 1 the run failed.
Set HYDRA_FULL_ERROR=1 to see tracebacks."""


def _list(args: list[str]) -> None:
    """The options of every config group, read from configs/ (each built-in component has its
    YAML there, and tests/unit/test_registry.py keeps the two in step): no torch import."""
    from dltrain.config.compose import group_options
    from dltrain.registry import did_you_mean

    if len(args) > 1:
        raise UserError("usage: dltrain list [GROUP]")
    groups = ["data", "model", "loss", "optimizer", "scheduler", "precision", "distributed"]
    groups.append("experiment")
    wanted = args or groups
    for group in wanted:
        if group not in groups:
            raise UserError(
                f"no group '{group}'.{did_you_mean(group, groups)} Groups: {', '.join(groups)}."
            )
        print(f"{group}: {', '.join(group_options(group))}")


def _dispatch(verb: str, args: list[str]) -> None:
    if verb == "train":
        from dltrain.cli.train import train

        train(args)
    elif verb == "eval":
        from dltrain.inference.evaluate import run_eval

        run_eval(args)
    elif verb == "plot":
        from dltrain.plots import run_plot

        run_plot(args)
    elif verb == "predict":
        from dltrain.inference.predict import run_predict

        run_predict(args)
    elif verb == "export":
        from dltrain.inference.export import run_export

        run_export(args)
    elif verb == "report":
        from dltrain.sweep.report import run_report

        run_report(args)
    elif verb == "list":
        _list(args)
    elif verb == "summary":
        from dltrain.cli.summary import run_summary

        run_summary(args)
    else:
        from dltrain.registry import did_you_mean

        verbs = ["train", "eval", "plot", "predict", "export", "report", "list", "summary"]
        raise UserError(f"unknown command '{verb}'.{did_you_mean(verb, verbs)} Run dltrain --help.")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        sys.exit(0 if argv else EXIT_USER_ERROR)
    try:
        with exit_codes():
            _dispatch(argv[0], argv[1:])
    except KeyboardInterrupt:
        print("dltrain: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `dltrain list | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
