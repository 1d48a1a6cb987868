"""The job side of Optuna pruning: report each epoch's monitored value, stop when pruned.

The sweeper (parent process) owns the study; it passes the storage, the study name and the
trial id through the environment, so the job (a separate process) can report through the same
storage. Optuna is imported only when a sweep asks for this.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from dltrain.errors import Pruned

STORAGE_ENV = "DLTRAIN_OPTUNA_STORAGE"
STUDY_ENV = "DLTRAIN_OPTUNA_STUDY"
TRIAL_ENV = "DLTRAIN_OPTUNA_TRIAL_ID"


class ReportToTrial:
    """An ``on_epoch_end`` hook for runner.fit: trial.report, then trial.should_prune."""

    def __init__(self, storage: str, study_name: str, trial_id: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=study_name, storage=storage)
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
        os.environ[STORAGE_ENV], os.environ[STUDY_ENV], int(os.environ[TRIAL_ENV])
    )
