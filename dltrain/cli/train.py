"""Compose once, validate, freeze, then run: the parent process is the only one that runs Hydra.

``preflight`` composes every job's config and validates it before Hydra creates any folder, so
bad input is exit 2 with nothing written. Hydra then creates the run folder; the task writes the
resolved config.yaml there and runs the job from that frozen dict.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dltrain.config.compose import (
    COMPONENT_GROUPS,
    check_component_types,
    compose,
    config_dir,
    register_schemas,
    to_plain,
    validate,
)
from dltrain.errors import EXIT_RUN_FAILED, EXIT_USER_ERROR, Interrupted, RunError, UserError
from dltrain.train.run_files import write_text_atomic

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
# The parts of a config that must not change when a run resumes from its last checkpoint.
RESUME_LOCKED = ("data", "model", "loss", "optimizer", "seed", "precision")


def train(args: list[str]) -> None:
    """``dltrain train [overrides]``: validate every job, then hand over to Hydra."""
    started_by_torchrun = "RANK" in os.environ and "WORLD_SIZE" in os.environ  # torch-free check
    if started_by_torchrun and not INFO_FLAGS.intersection(args):
        train_under_torchrun(args)
        return
    if not INFO_FLAGS.intersection(args):
        multirun = "-m" in args or "--multirun" in args
        preflight([a for a in args if not a.startswith("-")], multirun)
    register_schemas()
    import hydra

    sys.argv = ["dltrain train", *args]
    main = hydra.main(config_path=str(config_dir()), config_name="train", version_base="1.3")
    main(_task)()


def preflight(overrides: list[str], multirun: bool) -> None:
    """Compose and validate the config of every job a (multi)run will start."""
    from dltrain.models.checks import check_model_section
    from dltrain.sweep.expand import sweep_jobs

    jobs, multirun = sweep_jobs(overrides, multirun)
    checked_data: list[Any] = []
    for job in jobs:
        cfg = compose(job)
        validate_composed(cfg)
        data = OmegaConf.to_container(cfg.data, resolve=True)
        if data not in checked_data:
            from dltrain.data.checks import check_data

            check_data(data)
            checked_data.append(data)
        if not multirun and cfg.resume == "never":
            refuse_existing_run(Path(cfg.hydra.run.dir))
        fresh = multirun or not _resumes(cfg.resume, Path(cfg.hydra.run.dir))
        check_model_section(cfg.model, fresh)


def _resumes(resume: str, run_dir: Path) -> bool:
    return resume != "never" and (resume != "auto" or (run_dir / "checkpoints/last.pt").exists())


def validate_composed(cfg: DictConfig) -> None:
    """Types of component values, semantic checks, every component name in its registry.

    Resolves ``loss: auto`` in ``cfg`` to the model task's loss (task_loss.py).
    """
    from dltrain.loggers import check_loggers
    from dltrain.registry import REGISTRIES, import_user_modules
    from dltrain.config.task_loss import resolve_loss

    check_component_types(cfg)
    validate(cfg)
    import_user_modules(cfg.imports)
    for group in COMPONENT_GROUPS:
        if not (group == "loss" and cfg.loss.name == "auto"):
            REGISTRIES[group].check(cfg[group].name)
    resolve_loss(cfg)
    check_loggers(cfg.logger)


def refuse_existing_run(run_dir: Path) -> None:
    if (run_dir / "checkpoints" / "last.pt").exists() or (run_dir / "results.json").exists():
        raise UserError(
            f"resume=never, but {run_dir} already holds a run. Choose another hydra.run.dir, "
            "or use resume=auto to continue that run."
        )


def saved_config(cfg: dict[str, Any], run_dir: Path) -> tuple[dict[str, Any], str] | None:
    """The config of the run this one continues, and where it came from (None: a fresh run)."""
    if cfg["resume"] == "never":
        return None
    path = Path(cfg["resume"]).expanduser()
    if cfg["resume"] == "auto":
        path = run_dir / "checkpoints" / "last.pt"
        if not path.exists():
            return None
    from dltrain.train import checkpoint

    state = checkpoint.load(path)  # a truncated or foreign file fails here, before any write
    if "config" not in state or "progress" not in state:
        raise UserError(
            f"{path} holds no training state to resume from; use it as "
            "weights (model.weights=PATH) instead."
        )
    return state["config"], str(path)


def check_resume_fits(cfg: dict[str, Any], run_dir: Path) -> None:
    """A run may only be resumed by a config that keeps it exact; other changes are logged."""
    found = saved_config(cfg, run_dir)
    if found is None:
        return
    saved, origin = found
    locked = [
        f"{key}: {saved.get(key)!r} -> {cfg.get(key)!r}"
        for key in RESUME_LOCKED
        if saved.get(key) != cfg.get(key)
    ]
    if locked:
        raise UserError(
            f"{origin} holds a run with a different config, so resuming it would not be the "
            f"same run. Differences: {'; '.join(locked)}. Use another hydra.run.dir (or "
            "resume=never), or the original values."
        )
    harmless = [
        f"{key}: {saved.get(key)!r} -> {cfg.get(key)!r}"
        for key in cfg
        if key not in RESUME_LOCKED and saved.get(key) != cfg.get(key)
    ]
    if harmless:
        print(f"dltrain: resuming {origin} with changed settings: {'; '.join(harmless)}")


def freeze(plain: dict[str, Any], run_dir: Path) -> None:
    """Write the resolved config that workers (and a re-run) read: config.yaml."""
    check_resume_fits(plain, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(plain)))


def run_frozen(plain: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Run a frozen config: in this process, or as torchrun workers for distributed=ddp."""
    if plain["distributed"]["name"] == "ddp":
        from dltrain.distributed.torchrun import launch_workers

        launch_workers(plain["distributed"], run_dir)
        return json.loads((run_dir / "results.json").read_text())
    from dltrain.train.recipe import fit

    return fit(plain, run_dir)


def _task(cfg: DictConfig) -> float | None:
    """Hydra's task function: freeze the config into the run folder, run, return the objective.

    A multirun job runs in a fresh process (dltrain.sweep.jobs); a single run runs here.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from dltrain.registry import import_user_modules
    from dltrain.config.task_loss import resolve_loss

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        import_user_modules(cfg.imports)
        resolve_loss(cfg)  # loss: auto -> the task's loss, before config.yaml is written
        plain = to_plain(cfg)
        if hydra_cfg.mode == RunMode.MULTIRUN:
            from dltrain.sweep.jobs import run_sweep_job

            if not (run_dir / "results.json").is_file():
                freeze(plain, run_dir)
            return run_sweep_job(run_dir, list(hydra_cfg.overrides.task), hydra_cfg.job.num)
        freeze(plain, run_dir)
        results = run_frozen(plain, run_dir)
    except UserError as err:
        _exit(err, EXIT_USER_ERROR)
    except RunError as err:
        _exit(err, EXIT_RUN_FAILED)
    except Interrupted as err:
        _exit(err, err.exit_code)
    return results.get(results["monitor"])  # the resolved metric (checkpoint.monitor=auto)


def train_under_torchrun(args: list[str]) -> None:
    """Every rank of an external torchrun composes the same config; rank 0 picks the folder.

    Rank 0 validates the data, checks and writes the run folder, then shares its path (or its
    error) with every rank, so no rank waits at a collective that another rank skipped.
    """
    from dltrain.distributed.context import broadcast_object, init_process_group, shutdown
    from dltrain.train.recipe import fit, resolve_device

    if "-m" in args or "--multirun" in args:
        raise UserError(
            "-m (multirun) cannot run under an external torchrun: each sweep job needs its own "
            "launch. Use `dltrain train -m ... distributed=ddp` (a torchrun per job) instead."
        )
    cfg = compose(args)
    validate_composed(cfg)
    plain = to_plain(cfg)
    ctx = init_process_group(plain["distributed"]["backend"], resolve_device(plain["device"]).type)
    try:
        outcome: tuple[str, str] = ("ok", "")
        if ctx.is_main:
            try:
                preflight(args, multirun=False)
                run_dir = Path(cfg.hydra.run.dir).resolve()
                freeze(plain, run_dir)
                outcome = ("ok", str(run_dir))
            except UserError as err:
                outcome = ("error", str(err))
        status, value = broadcast_object(outcome, ctx)
        if status == "error":
            raise UserError(value)
        fit(plain, Path(value))
    finally:
        shutdown()


def _exit(err: Exception, code: int) -> None:
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise err
    print(f"dltrain: error: {err}", file=sys.stderr)
    sys.exit(code)
