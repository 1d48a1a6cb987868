"""Preflight: compose and validate every job a (multi)run will start, before any folder exists.

Each job's config is composed, type-checked and validated, its data set checked (and
downloaded once, here), its model section checked and every component dry-built
(train/dry_build.py: the model on the meta device), so a bad grid point stops a sweep before
its first job runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from dltrain.config.compose import compose
from dltrain.config.resume import refuse_existing_run, resumes
from dltrain.config.validate import validate_composed


def preflight(overrides: list[str], multirun: bool) -> None:
    """Compose and validate the config of every job a (multi)run will start."""
    from dltrain.models.checks import check_model_section
    from dltrain.sweep.expand import sweep_jobs
    from dltrain.train.dry_build import dry_build

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
        fresh = multirun or not resumes(cfg.resume, Path(cfg.hydra.run.dir))
        check_model_section(cfg.model, fresh)
        dry_build(cfg)
