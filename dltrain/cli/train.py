"""``dltrain train [overrides]``: validate every job, then hand over to Hydra.

The parent process is the only one that runs Hydra. ``preflight`` composes and validates every
job's config before Hydra creates any folder, so bad input is exit 2 with nothing written.
The run (or sweep) folder is then locked for the whole run (train/run_folder.py: one run per
folder), Hydra creates it; ``_task`` freezes the resolved config.yaml there and runs
the job from that frozen dict (docs/architecture.md draws the whole way).
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from omegaconf import DictConfig

from dltrain.config.compose import config_dir, register_schemas
from dltrain.config.freeze import freeze, to_plain
from dltrain.distributed import under_torchrun
from dltrain.errors import exit_codes

HELP = """\
Composes configs/train.yaml with the overrides, validates every job's config before anything
is written, then runs it in a new run folder (outputs/DATE/TIME; sweeps: multirun/DATE/TIME).
`dltrain train --help` is Hydra's help: every config group and its options."""

# Flags after which Hydra only prints something: no run, nothing to validate.
INFO_FLAGS = {
    "--help",
    "-h",
    "--hydra-help",
    "--cfg",
    "-c",
    "--info",
    "-i",
    "--version",
    "--shell-completion",
    "-sc",
    "--resolve",
    "-p",
    "--package",
}


def run(args: list[str]) -> None:
    """The verb (``dltrain train --help`` goes to Hydra, which lists every option)."""
    train(args)


def train(args: list[str]) -> None:
    """``dltrain train [overrides]``: validate every job, then hand over to Hydra."""
    if under_torchrun() and not INFO_FLAGS.intersection(args):
        from dltrain.distributed.external import train_under_torchrun

        train_under_torchrun(args)
        return
    held: AbstractContextManager = nullcontext()
    if not INFO_FLAGS.intersection(args):
        from dltrain.config.preflight import preflight
        from dltrain.train.run_folder import hold_run_folder

        multirun = "-m" in args or "--multirun" in args
        folder = preflight([a for a in args if not a.startswith("-")], multirun)
        held = hold_run_folder(folder)  # locked before Hydra makes it, until the run ends
        args = [*args, folder.pin()]  # Hydra uses the very folder that was checked
    register_schemas()
    import hydra

    sys.argv = ["dltrain train", *args]
    main = hydra.main(config_path=str(config_dir()), config_name="train", version_base="1.3")
    with held:
        main(_task)()


def _task(cfg: DictConfig) -> float | None:
    """Hydra's task function: freeze the config into the run folder, run, return the objective.

    A multirun job runs in a fresh process (dltrain.sweep.jobs); a single run runs here.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from dltrain.config.task_loss import resolve_loss
    from dltrain.registry import import_user_modules

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    with exit_codes():
        import_user_modules(cfg.imports)
        resolve_loss(cfg)  # loss: auto -> the task's loss, before config.yaml is written
        plain = to_plain(cfg)
        if hydra_cfg.mode == RunMode.MULTIRUN:
            from dltrain.sweep.jobs import run_sweep_job
            from dltrain.train.run_folder import RunFolder, hold_run_folder

            # The parent holds the sweep folder; each job's folder is locked while it runs.
            with hold_run_folder(RunFolder("hydra.sweep.dir", str(run_dir))):
                if not (run_dir / "results.json").is_file():
                    freeze(plain, run_dir)
                return run_sweep_job(run_dir, list(hydra_cfg.overrides.task), hydra_cfg.job.num)
        freeze(plain, run_dir)
        from dltrain.distributed.launch import run_frozen

        results = run_frozen(plain, run_dir)
    return results.get(results["monitor"])  # the resolved metric (checkpoint.monitor=auto)
