"""The Optuna study behind ``hydra/sweeper=dltrain_optuna``: ask, launch, tell.

The sweeper owns the study (ask/tell); each trial's job only reports epoch values through the
storage. A trial is told COMPLETE with its objective, PRUNED when its job exited with
EXIT_PRUNED, FAIL otherwise; failed trials do not stop the study.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dltrain.sweep.overrides import require_optuna
from dltrain.sweep.pruning import (
    PRUNER_ENV,
    STORAGE_ENV,
    STUDY_ENV,
    TRIAL_ENV,
    make_pruner,
)
from dltrain.sweep.space import as_override, search_space
from dltrain.sweep.status import COMPLETED, PRUNED, read_status
from dltrain.train.run_files import write_text_atomic

log = logging.getLogger("dltrain.sweep")


def study_direction(config: DictConfig, direction: str) -> str:
    """maximize/minimize; ``auto`` follows checkpoint.mode (and the model's task for mode=auto),
    exactly as the runner picks what best.pt keeps."""
    if direction in ("maximize", "minimize"):
        return direction
    if direction not in ("auto", "max", "min"):
        from dltrain.errors import UserError

        raise UserError(
            f"hydra.sweeper.direction={direction}: use auto (from checkpoint.mode), "
            "maximize or minimize."
        )
    if direction in ("max", "min"):
        return "maximize" if direction == "max" else "minimize"
    from dltrain.models.build import model_task
    from dltrain.registry import import_user_modules
    from dltrain.train.monitor import resolve_monitor

    import_user_modules(list(config.imports))
    task = model_task(OmegaConf.to_container(config.model, resolve=True))
    _, mode = resolve_monitor(config.checkpoint.monitor, config.checkpoint.mode, task)
    return "maximize" if mode == "max" else "minimize"


def run_study(
    *,
    config: DictConfig,
    launch: Callable[[Sequence[Sequence[str]], int], Sequence[Any]],
    arguments: list[str],
    sweep_dir: Path,
    n_trials: int,
    n_jobs: int,
    direction: str,
    storage: str,
    study_name: str,
    sampler: Mapping[str, Any],
    pruner: Mapping[str, Any],
    params: dict[str, str],
    enqueue: list[dict[str, Any]],
    environ: MutableMapping[str, str],
) -> list[Any]:
    """Run trials until the study holds ``n_trials`` finished ones; return the job results."""
    require_optuna()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fixed, space = search_space(params, arguments)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        sampler=optuna.samplers.TPESampler(
            seed=sampler["seed"], n_startup_trials=sampler["n_startup_trials"]
        ),
        pruner=make_pruner(pruner),
        direction=study_direction(config, direction),
        load_if_exists=True,
    )
    _requeue_unfinished(optuna, study)
    for trial_params in enqueue:
        study.enqueue_trial(dict(trial_params), skip_if_exists=True)
    environ[STORAGE_ENV], environ[STUDY_ENV] = storage, study_name
    environ[PRUNER_ENV] = json.dumps(dict(pruner))
    log.info(f"Optuna study '{study_name}' ({study.direction.name.lower()}) in {storage}")
    returns: list[Any] = []
    while (left := n_trials - _finished(optuna, study)) > 0:
        trials = [study.ask(space) for _ in range(min(n_jobs, left))]
        batch = [
            [
                *fixed,
                *(as_override(k, v) for k, v in trial.params.items()),
                f"+hydra.job.env_set.{TRIAL_ENV}={trial._trial_id}",
            ]
            for trial in trials
        ]
        results = launch(batch, trials[0].number)
        for trial, result in zip(trials, results, strict=True):
            _tell(optuna, study, trial, result)
        returns.append(results)
    _write_best(optuna, study, sweep_dir)
    return returns


def _finished(optuna: Any, study: Any) -> int:
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))


def _requeue_unfinished(optuna: Any, study: Any) -> None:
    """Trials left RUNNING by an interrupted sweep: mark them failed and try their params again."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params)
        log.info(f"trial {trial.number} was interrupted; its params are queued again")


def _tell(optuna: Any, study: Any, trial: Any, result: Any) -> None:
    job_dir = Path(str(result.hydra_cfg.hydra.runtime.output_dir))
    status = (read_status(job_dir) or {}).get("status")
    value = result._return_value if status == COMPLETED else None  # (a failed job raised)
    if status == COMPLETED and value is not None:
        study.tell(trial, float(value))
    elif status == PRUNED:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    log.info(f"trial {trial.number}: {status or 'failed'} {'' if value is None else value}")


def _write_best(optuna: Any, study: Any, sweep_dir: Path) -> None:
    """SWEEP_DIR/optuna_best.yaml: the best trial's params and value (if any completed)."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        log.warning("no trial completed: no best params")
        return
    best = study.best_trial
    text = OmegaConf.to_yaml(
        {"trial": best.number, "value": best.value, "params": dict(best.params)}
    )
    write_text_atomic(sweep_dir / "optuna_best.yaml", text)
    log.info(f"best trial {best.number}: {best.value} with {dict(best.params)}")
