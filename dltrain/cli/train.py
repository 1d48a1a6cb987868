"""``dltrain train [flags] [overrides]``: validate every job, then hand over to Hydra.

The parent process is the only one that runs Hydra. ``preflight`` composes and validates every
job's config before Hydra creates any folder, so bad input is exit 2 with nothing written.
The run (or sweep) folder is then locked for the whole run (train/run_folder.py: one run per
folder), Hydra creates it; ``_task`` freezes the resolved config.yaml there and runs
the job from that frozen dict (docs/architecture.md draws the whole way).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path

from omegaconf import DictConfig

from dltrain.config.command_line import HydraArgs, parse_args
from dltrain.config.compose import config_dir, register_schemas
from dltrain.config.freeze import freeze, to_plain
from dltrain.distributed import launches_workers, under_torchrun
from dltrain.distributed.slurm import SlurmStep, node_local_folder, slurm_step
from dltrain.errors import UserError, disk_errors, exit_codes

# Set by ``errors_raised`` (dltrain.train): where _task leaves the error of a failed run for
# the caller to raise, instead of exiting the process as the command does.
_CAUGHT: ContextVar[list[Exception] | None] = ContextVar("dltrain_caught", default=None)

HELP = """\
Composes configs/train.yaml with the overrides, validates every job's config before anything
is written, then runs it in a new run folder (outputs/DATE/TIME; sweeps: multirun/DATE/TIME).
`dltrain train --help` is Hydra's help: every config group and its options."""


def run(args: list[str]) -> None:
    """The verb (``dltrain train --help`` goes to Hydra, which lists every option)."""
    train(args)


def train(args: list[str]) -> None:
    """``dltrain train [flags] [overrides]``: validate every job, then hand over to Hydra.

    The command line is parsed once, by Hydra's parser; preflight composes from the same
    config source (--config-name, --config-dir) as the run, so it checks what will run.
    """
    command = parse_args(args)
    if command.namespace.shell_completion:
        argv = _shell_completion(command)
        if argv is not None:
            _hydra_main(argv)
        return
    if command.runs and under_torchrun():
        from dltrain.distributed.external import train_under_torchrun

        train_under_torchrun(command.overrides, command.multirun, command.source)
        return
    if command.runs:
        run_checked(command)
        return
    if command.shows_config:
        from dltrain.config.preflight import check_config

        check_config(command.overrides, command.source)
    _hydra_main(command.argv())


def run_checked(command: HydraArgs, one_run: bool = False) -> Path:
    """Preflight every job, lock the folder, hand the run (or sweep) to Hydra; that folder.

    The one way a run starts, for ``dltrain train`` and ``dltrain.train`` (``one_run``: a
    config that turns out to be a sweep, e.g. an ``hparams_search`` preset, is refused).
    """
    from dltrain.config.preflight import preflight
    from dltrain.train.run_folder import RunFolder, hold_run_folder

    folder = preflight(command.overrides, command.multirun, command.source)
    if one_run and folder.sweep:
        raise UserError(
            "this config is a sweep (its preset sets hydra.mode=MULTIRUN), and one call runs "
            "one run. Run the sweep with `dltrain train -m ...`, or drop the hparams_search "
            "preset and call once per setting."
        )
    held: AbstractContextManager
    step = slurm_step()
    if step is not None and not step.holds_run_folder and not command.multirun:
        held = ExitStack()  # SLURM task > 0: task 0 holds the folder, this one a local one
        folder = RunFolder(folder.key, str(held.enter_context(node_local_folder(step))))
        held.enter_context(hold_run_folder(folder))
    else:
        held = hold_run_folder(folder)  # locked before Hydra makes it, until the run ends
    with held:
        _hydra_main([*command.argv(), folder.pin()])  # Hydra uses the very folder checked
    return folder.path


@contextmanager
def errors_raised() -> Iterator[None]:
    """Inside, a run that fails raises its error (a DltrainError with its exit code, or the
    exception itself) where the command would print it and exit; sys.argv is kept."""
    caught: list[Exception] = []
    token, argv = _CAUGHT.set(caught), sys.argv
    try:
        yield
    finally:
        _CAUGHT.reset(token)
        sys.argv = argv
    if caught:
        raise caught[0]


def _hydra_main(argv: list[str], program: str = "dltrain train") -> None:
    """hydra.main on ``argv``: the run (or what Hydra prints) with dltrain's configs."""
    register_schemas()
    import hydra

    sys.argv = [program, *argv]
    main = hydra.main(config_path=str(config_dir()), config_name="train", version_base="1.3")
    main(_task)()


def _shell_completion(command: HydraArgs) -> list[str] | None:
    """-sc install=SHELL: Hydra's script, calling `dltrain train`; -sc query=SHELL: the argv
    for Hydra's query (None: answered already); -sc uninstall: Hydra's as it is."""
    from omegaconf import OmegaConf

    from dltrain.config.completion import install_script, prepare_query

    request = OmegaConf.from_dotlist(command.overrides)
    if "install" in request:
        print(install_script(lambda: _hydra_main(command.argv(), "dltrain"), request.install))
        return None
    if "query" in request:
        from dltrain.cli.verbs import VERBS

        return prepare_query(command, [verb.name for verb in VERBS])
    return command.argv()


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
    with _task_errors():
        import_user_modules(cfg.imports)
        resolve_loss(cfg)  # loss: auto -> the task's loss, before config.yaml is written
        plain = to_plain(cfg)
        step = slurm_step()
        if step is not None and not step.holds_run_folder:
            multirun = hydra_cfg.mode == RunMode.MULTIRUN
            return _other_slurm_task(plain, step, None if multirun else run_dir)
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

        results = run_frozen(plain, run_dir)  # {} on a node that does not hold the folder
        return results.get(results["monitor"]) if results else None  # monitor resolved
    return None  # failed, and the error is kept for dltrain.train (errors_raised)


@contextmanager
def _task_errors() -> Iterator[None]:
    """The command: an error as its message and exit code (Hydra would print a traceback).
    dltrain.train (errors_raised): the error kept, raised again once Hydra has returned."""
    caught = _CAUGHT.get()
    if caught is None:
        with exit_codes():
            yield
        return
    try:
        with disk_errors():
            yield
    except Exception as err:
        caught.append(err)


def _other_slurm_task(plain: dict, step: SlurmStep, run_dir: Path | None) -> None:
    """A task > 0 of a SLURM job step (srun, or submitit's tasks_per_node/nodes): under
    distributed=ddp it starts its torchrun "node" from its node-local folder (``run_dir``, or
    a new one for a sweep job, whose folder task 0 holds); it keeps no run files."""
    if not launches_workers(plain["distributed"]["name"]):
        print(
            f"dltrain: SLURM task {step.task} of {step.tasks}: distributed=none trains on task 0 "
            "only (distributed=ddp or fsdp spreads one run over the tasks)",
            flush=True,
        )
        return None
    from dltrain.distributed.launch import run_frozen

    with ExitStack() as stack:
        folder = run_dir or stack.enter_context(node_local_folder(step))
        freeze(plain, folder)
        run_frozen(plain, folder)
    return None
