"""Preflight: compose and validate every job a (multi)run will start, before any folder exists.

Each job's config is composed, type-checked and validated, its data set checked (and
downloaded once, here), its model section checked and every component dry-built
(train/dry_build.py: the model on the meta device), so a bad grid point stops a sweep before
its first job runs. It returns the folder the (multi)run will write, which the caller locks
(train/run_folder.py) before Hydra creates it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dltrain.config.compose import DEFAULT_SOURCE, ConfigSource, compose
from dltrain.config.resume import refuse_existing_run, resumes
from dltrain.config.validate import validate_composed
from dltrain.train.run_folder import RunFolder


def preflight(
    overrides: list[str], multirun: bool, source: ConfigSource = DEFAULT_SOURCE
) -> RunFolder:
    """Compose and validate the config of every job a (multi)run will start, from the same
    config source (--config-name, --config-dir, ...) as the run; the folder it will write (the
    run folder, or the sweep folder of a multirun)."""
    from dltrain.sweep.expand import sweep_jobs

    jobs, multirun = sweep_jobs(overrides, multirun, source)
    configs = [compose(job, source) for job in jobs]
    for cfg in configs:  # every job's config first: these checks need no torch
        validate_composed(cfg)
    checked_data: list[Any] = []
    for cfg in configs:
        data = OmegaConf.to_container(cfg.data, resolve=True)
        if data not in checked_data:
            from dltrain.data.checks import check_data

            check_data(data)
            checked_data.append(data)
        run_dir, fast_dev_run = Path(cfg.hydra.run.dir), cfg.trainer.fast_dev_run > 0
        if not multirun and fast_dev_run:  # starts afresh, and would clear the run's files
            setting = f"trainer.fast_dev_run={cfg.trainer.fast_dev_run} never resumes"
            refuse_existing_run(run_dir, setting=setting)
        elif not multirun and cfg.resume != "auto":
            refuse_existing_run(run_dir, cfg.resume)
        _check_components(cfg, fresh=multirun or fast_dev_run or not resumes(cfg.resume, run_dir))
    return RunFolder.of(compose(jobs[0], source), multirun)


def _check_components(cfg: Any, fresh: bool) -> None:
    """The model section's files, then the dry build (imports torch: after every cheap check)."""
    from dltrain.models.checks import check_model_section
    from dltrain.train.dry_build import dry_build

    check_model_section(cfg.model, fresh)
    dry_build(cfg)


def check_config(overrides: list[str], source: ConfigSource = DEFAULT_SOURCE) -> DictConfig:
    """--cfg / --info (and dltrain.compose): the config is composed and validated as a run's
    is (the same exit-2 messages); its data and weights are not looked at, printing needs
    neither. The composed config."""
    cfg = compose(overrides, source)
    validate_composed(cfg)
    return cfg
