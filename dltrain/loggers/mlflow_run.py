"""The MLflow run of a run folder: created by its first start, continued by every resume.

RUN_DIR/mlflow.json keeps the MLflow run's id and tracking URI, so the same command started
again (a resume after a kill, a requeue, torchrun's restart) appends to the same MLflow run
instead of opening a second one. Everything here runs on the background sender's thread with
MLflow's own ``MlflowClient`` (no fluent API: no global active run that user code or a second
logger could disturb).

**No duplicated steps after a resume.** A killed process may have logged steps past the
checkpoint the run resumes from, and the resumed process replays those steps. MLflow cannot
delete metric points, so the replays are skipped instead: on resume the run's metric histories
are read once and every (metric, step) point already there is left out of what is sent. Under
``deterministic=true`` the replayed values equal the skipped ones; otherwise the first
process's values stay (metrics.jsonl holds the resumed run's).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from dltrain.loggers.base import LoggerRun
from dltrain.loggers.mlflow_values import chunks, flat_params, mlflow_name, param_value
from dltrain.train.run_files import write_text_atomic

log = logging.getLogger("dltrain")

RUN_FILE = "mlflow.json"  # in the run folder: {"run_id", "experiment_id", "tracking_uri"}
PER_REQUEST = 100  # params or tags per log_batch (MLflow's MAX_PARAMS_TAGS_PER_BATCH)


@dataclass(frozen=True)
class Target:
    """Where a run is logged: the store, the experiment and run names, extra tags."""

    tracking_uri: str
    experiment_name: str
    run_name: str
    artifact_location: str | None  # for a new experiment; None: the store's default
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass
class OpenedRun:
    """An MLflow run being logged to, and the (metric, step) points it holds already."""

    run_id: str
    logged: set[tuple[str, int]]


def open_run(client: Any, run: LoggerRun, target: Target) -> OpenedRun:
    """The run folder's MLflow run, continued (mlflow.json) or created; params and tags set."""
    run_id = _recorded_run(client, run.run_dir, target.tracking_uri)
    if run_id is not None:
        client.update_run(run_id, status="RUNNING")
        opened = OpenedRun(run_id, logged_points(client, run_id))
        log.info(f"MLflow: continuing run {run_id} at {target.tracking_uri}")
    else:
        experiment_id = _experiment_id(client, target)
        created = client.create_run(experiment_id, run_name=target.run_name)
        opened = OpenedRun(created.info.run_id, set())
        record = {
            "run_id": opened.run_id,
            "experiment_id": experiment_id,
            "tracking_uri": target.tracking_uri,
        }
        write_text_atomic(run.run_dir / RUN_FILE, json.dumps(record, indent=2) + "\n")
        where = f"experiment '{target.experiment_name}' at {target.tracking_uri}"
        log.info(f"MLflow: run {opened.run_id} in {where}")
    _log_params(client, opened.run_id, flat_params(run.config))
    _set_tags(client, opened.run_id, {**run_tags(run.run_dir), **target.tags})
    return opened


def logged_points(client: Any, run_id: str) -> set[tuple[str, int]]:
    """Every (metric, step) point the run holds (one history request per metric)."""
    keys = client.get_run(run_id).data.metrics
    return {(key, m.step) for key in keys for m in client.get_metric_history(run_id, key)}


def run_tags(run_dir: Path) -> dict[str, str]:
    """dltrain's tags: the run folder, dltrain's and torch's versions, the working folder's
    git commit (MLflow's own tag name, shown in its UI) when it is in a git repository."""
    tags = {
        "dltrain.run_dir": str(run_dir.resolve()),
        "dltrain.version": _version("dltrain"),
        "torch.version": _version("torch"),
    }
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        changed = _git("status", "--porcelain", "--untracked-files=no")
        tags["dltrain.git_dirty"] = "true" if changed else "false"
    return tags


def _recorded_run(client: Any, run_dir: Path, tracking_uri: str) -> str | None:
    """The id in mlflow.json when that run lives in this store and is not deleted."""
    path = run_dir / RUN_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if record.get("tracking_uri") != tracking_uri:
        log.warning(
            f"MLflow: {path} names run {record.get('run_id')} at {record.get('tracking_uri')}; "
            f"this run logs to {tracking_uri}, so it starts a new MLflow run there"
        )
        return None
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_run(record["run_id"])
    except MlflowException:
        found = None
    if found is None or found.info.lifecycle_stage == "deleted":
        log.warning(f"MLflow: run {record['run_id']} of {path} is gone; starting a new one")
        return None
    return found.info.run_id


def _experiment_id(client: Any, target: Target) -> str:
    from mlflow.exceptions import MlflowException

    name = target.experiment_name
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name, artifact_location=target.artifact_location)
        except MlflowException:
            found = client.get_experiment_by_name(name)  # another job created it meanwhile
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":
        raise RuntimeError(
            f"the MLflow experiment '{name}' is deleted: restore it (mlflow experiments "
            f"restore --experiment-id {found.experiment_id}) or set logger.mlflow.experiment_name"
        )
    return found.experiment_id


def _log_params(client: Any, run_id: str, params: Mapping[str, str]) -> None:
    """The params the run lacks. MLflow keeps a param's first value, so a resume that changed
    a harmless key (trainer.max_epochs) keeps the old one there (config.yaml has the new)."""
    from mlflow.entities import Param

    existing = client.get_run(run_id).data.params
    changed = sorted(k for k, v in params.items() if k in existing and existing[k] != v)
    if changed:
        log.info(f"MLflow keeps the first value of params {', '.join(changed)} (immutable)")
    missing = [Param(k, v) for k, v in params.items() if k not in existing]
    for batch in chunks(missing, PER_REQUEST):
        client.log_batch(run_id, params=batch)


def _set_tags(client: Any, run_id: str, tags: Mapping[str, Any]) -> None:
    from mlflow.entities import RunTag

    entries = [RunTag(mlflow_name(str(k)), param_value(v)) for k, v in tags.items()]
    for batch in chunks(entries, PER_REQUEST):
        client.log_batch(run_id, tags=batch)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _git(*args: str) -> str | None:
    """A git command's output in the working folder (None: no git, or not a repository)."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=os.getcwd(), capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
