"""``dltrain.train``: one training run from Python, by the very path ``dltrain train`` takes.

The overrides are parsed by the command's parser and handed to the command's own code
(cli/train.py ``run_checked``: preflight, the folder lock, Hydra, config.yaml, the run,
torchrun for ``distributed=ddp``), so a run started here and one started in a shell are the
same run. Only the ending differs: a failure is raised (with its ``exit_code``) instead of
ending the process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dltrain.api.overrides import Overrides, as_overrides, one_run
from dltrain.errors import RunError, UserError


class TrainResults(dict[str, Any]):
    """results.json of the run as a dict (equal to the file's), with the run folder as
    ``run_dir`` (where a run without ``run_dir=`` went: outputs/DATE/TIME).

    Example::

        results = dltrain.train(["experiment=digits"])
        results["test/accuracy"], results.run_dir / "checkpoints" / "best.pt"
    """

    run_dir: Path

    def __init__(self, results: dict[str, Any], run_dir: Path) -> None:
        super().__init__(results)
        self.run_dir = run_dir


def train(overrides: Overrides = (), run_dir: str | Path | None = None) -> TrainResults:
    """Train one run as ``dltrain train OVERRIDES`` does; results.json of the run.

    ``overrides``: ``["model=lenet", "optimizer.lr=3e-4"]`` or a dict,
    ``{"model": "lenet", "optimizer": {"lr": 3e-4}}`` (nested keys are dotted, a group is picked
    with a string). ``run_dir``: the run folder (``hydra.run.dir``; default
    outputs/DATE/TIME). The same folder again resumes the run, as the command does.

    Raises a ``dltrain.errors.DltrainError`` with the command's message and ``exit_code``
    (``UserError``, 2: bad input, nothing written; ``RunError``, 1: the run failed). One call
    is one run: ``-m``, ``--cfg`` and other printing flags are refused, sweeps are for
    ``dltrain train -m``. ``distributed=ddp`` starts torchrun's workers as the command does.
    A ``trainer.fast_dev_run`` keeps no results.json: its results are empty.

    Example::

        results = dltrain.train({"experiment": "digits", "trainer.max_epochs": 2},
                                run_dir="runs/digits")
        results["test/accuracy"], results.run_dir
    """
    from dltrain.cli.train import errors_raised, run_checked
    from dltrain.distributed import under_torchrun
    from dltrain.train.run_files import close_run_log
    from dltrain.train.run_folder import hydra_quoted

    args = as_overrides(overrides)
    if run_dir is not None:
        _refuse_second_run_dir(args)
        args.append(f"hydra.run.dir={hydra_quoted(str(run_dir))}")
    command = one_run(args, "dltrain.train")
    if under_torchrun():
        raise UserError(
            "dltrain.train is running under torchrun (RANK is set). Call it from a plain "
            "python process with distributed=ddp: it starts torchrun's workers itself."
        )
    try:
        with errors_raised():
            folder = run_checked(command, one_run=True)
    except SystemExit as stop:  # Hydra's own failures end in sys.exit, after printing
        error = RunError(f"the run stopped with exit code {stop.code} (see the message above).")
        error.exit_code = stop.code if isinstance(stop.code, int) and stop.code else 1
        raise error from None
    finally:
        close_run_log()
    results = folder / "results.json"  # none after trainer.fast_dev_run, which keeps nothing
    return TrainResults(json.loads(results.read_text()) if results.is_file() else {}, folder)


def _refuse_second_run_dir(args: list[str]) -> None:
    for arg in args:
        if arg.lstrip("+").split("=", 1)[0] == "hydra.run.dir":
            raise UserError(
                f"the run folder is given twice: run_dir= and {arg}. Give it once (run_dir=)."
            )
