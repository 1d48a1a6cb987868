"""The job side of Optuna pruning: report each epoch's monitored value, stop when pruned.

The sweeper (parent process) owns the study; it passes the storage, the study name and the
trial id through the environment, so the job (a separate process) can report through the same
storage. Optuna is imported only when a sweep asks for this.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from dltrain.errors import Pruned

STORAGE_ENV = "DLTRAIN_OPTUNA_STORAGE"
STUDY_ENV = "DLTRAIN_OPTUNA_STUDY"
TRIAL_ENV = "DLTRAIN_OPTUNA_TRIAL_ID"
PRUNER_ENV = "DLTRAIN_OPTUNA_PRUNER"  # JSON of hydra.sweeper.pruner: a study's pruner is not
# kept in its storage, so the job must build the same one


def make_pruner(settings: Mapping[str, Any]) -> Any:
    """The Optuna pruner that ``hydra.sweeper.pruner`` describes (median | none)."""
    import optuna

    if settings["name"] == "none":
        return optuna.pruners.NopPruner()
    if settings["name"] != "median":
        from dltrain.errors import UserError

        raise UserError(f"hydra.sweeper.pruner.name={settings['name']}: use median or none.")
    return optuna.pruners.MedianPruner(
        n_startup_trials=settings["n_startup_trials"],
        n_warmup_steps=settings["n_warmup_steps"],
    )


class ReportToTrial:
    """An ``on_epoch_end`` hook for runner.fit: trial.report, then trial.should_prune."""

    def __init__(
        self, storage: str, study_name: str, trial_id: int, pruner: Mapping[str, Any]
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(
            study_name=study_name, storage=storage, pruner=make_pruner(pruner)
        )
        self.trial = optuna.trial.Trial(study, trial_id)

    def __call__(self, record: Mapping[str, Any], monitor: str) -> None:
        value = record.get(monitor)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), step=int(record["epoch"]))
        if self.trial.should_prune():
            raise Pruned(
                f"pruned after epoch {record['epoch']}: {monitor} {value:.4f} is worse than "
                "the median of earlier trials at that epoch"
            )


def hook_from_env() -> ReportToTrial | None:
    """The pruning hook when this job is an Optuna trial, else None."""
    if TRIAL_ENV not in os.environ:
        return None
    return ReportToTrial(
        os.environ[STORAGE_ENV],
        os.environ[STUDY_ENV],
        int(os.environ[TRIAL_ENV]),
        json.loads(os.environ[PRUNER_ENV]),
    )
