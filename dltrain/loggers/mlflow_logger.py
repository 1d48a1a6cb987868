"""``logger=[mlflow]``: the run in MLflow, with MLflow's own client (``mlflow.MlflowClient``).

Logged: the frozen config as params, every step and epoch value as a metric at its optimizer
step, results.json's numbers at the end (mlflow_values.py has the names), tags (mlflow_run.py)
and, at the end, config.yaml, results.json, plots/*.png (and checkpoints/best.pt with
``log_model``) as artifacts. The run ends FINISHED, FAILED (an error) or KILLED (a signal, a
pruned sweep job); a resumed run continues the same MLflow run (mlflow.json in the run folder).

The training thread only turns events into plain tuples: mlflow is imported, the run opened
and everything sent on a background thread (sender.py), so a slow or unreachable tracking
server never stalls training, and a failure to log is one warning.

The default store (``tracking_uri: null``) is ``sqlite:///RUN_DIR/../mlflow.db``, artifacts in
``RUN_DIR/../mlartifacts``: beside the run folders (``outputs/DATE``, a sweep's folder), so the
runs there share it, and offline. SQLite because it is MLflow 3's default store: its file store
(``./mlruns``) is in maintenance mode and refuses to open unless ``MLFLOW_ALLOW_FILE_STORE=true``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dltrain.errors import Interrupted, Pruned, UserError
from dltrain.loggers.base import Logger, LoggerRun
from dltrain.loggers.mlflow_run import Target, open_run
from dltrain.loggers.mlflow_values import Point, event_points, result_points
from dltrain.loggers.sender import BackgroundSender
from dltrain.registry import LOGGERS

MAX_POINTS = 1000  # metrics per log_batch request (MLflow's MAX_METRICS_PER_BATCH)
# MLflow's HTTP defaults (7 retries, backoff factor 2, 120 s timeout) take about 4 minutes to
# report a server that is gone; a run's logging fails fast instead, unless the user set them.
HTTP_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def check_options(section: Mapping[str, Any]) -> None:
    """logger.mlflow's values, in preflight (exit 2 naming the key)."""
    for key in ("tracking_uri", "experiment_name", "run_name"):
        value = section.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise UserError(
                f"logger.mlflow.{key} must be text or null, got {value!r}. Fix "
                f"logger.mlflow.{key}=... (null: the default)."
            )
    if not isinstance(section.get("log_model", False), bool):
        raise UserError("logger.mlflow.log_model must be true or false.")
    tags = section.get("tags") or {}
    if not isinstance(tags, Mapping) or any(
        isinstance(v, Mapping | list | tuple) or v is None for v in tags.values()
    ):
        raise UserError(
            f"logger.mlflow.tags must map names to values, e.g. "
            f"'logger.mlflow.tags={{team: vision, ticket: 42}}'; got {tags!r}."
        )
    timeout = section.get("close_timeout", 60.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise UserError(f"logger.mlflow.close_timeout must be seconds > 0, got {timeout!r}.")


@LOGGERS.register("mlflow", requires=("mlflow", "dltrain[mlflow]"), check=check_options)
class MLflowLogger(Logger):
    """The hooks hand events to the sender; its thread opens, fills and ends the MLflow run
    (options: configs/logger/mlflow.yaml)."""

    def __init__(
        self,
        run: LoggerRun,
        tracking_uri: str | None = None,
        experiment_name: str | None = None,
        run_name: str | None = None,
        log_model: bool = False,
        tags: Mapping[str, Any] | None = None,
        close_timeout: float = 60.0,
    ) -> None:
        super().__init__(run)
        store = run.run_dir.resolve().parent
        self.target = Target(
            tracking_uri=tracking_uri or local_store(run.run_dir),
            experiment_name=experiment_name or "dltrain",
            run_name=run_name or run.run_dir.resolve().name,
            artifact_location=None if tracking_uri else str(store / "mlartifacts"),
            tags={str(k): str(v) for k, v in (tags or {}).items()},
        )
        self.log_model, self.close_timeout = log_model, close_timeout
        self.client: Any = None
        self.opened: Any = None  # mlflow_run.OpenedRun, once the run is open
        self.finished = False
        where = f"MLflow at {self.target.tracking_uri}"
        self.sender = BackgroundSender(where, self._send_points, MAX_POINTS)
        self.sender.call(self._open)

    def log(self, event: Mapping[str, Any], kind: str) -> None:
        for point in event_points(event, kind):
            self.sender.add(point)

    def finish(self, results: Mapping[str, Any]) -> None:
        for point in result_points(results):
            self.sender.add(point)
        self.sender.call(self._upload_files)
        self.finished = True

    def close(self) -> None:
        """End the MLflow run and wait (``close_timeout``) for what is queued. Called in the
        recipe's ``finally``, so ``sys.exc_info()`` is the error that ends the run, if any."""
        status = _status(self.finished)
        self.sender.call(lambda: self._end(status))
        self.sender.close(self.close_timeout)

    # -- on the sender's thread ---------------------------------------------------------------

    def _open(self) -> None:
        if self.target.tracking_uri.startswith(("http://", "https://")):
            for name, value in HTTP_SETTINGS.items():
                os.environ.setdefault(name, value)
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=self.target.tracking_uri)
        self.opened = open_run(self.client, self.run, self.target)

    def _send_points(self, points: list[Point]) -> None:
        from mlflow.entities import Metric

        logged = self.opened.logged
        fresh = [p for p in points if (p.key, p.step) not in logged]
        if fresh:
            metrics = [Metric(p.key, p.value, p.timestamp, p.step) for p in fresh]
            self.client.log_batch(self.opened.run_id, metrics=metrics)

    def _upload_files(self) -> None:
        run_dir, run_id = self.run.run_dir, self.opened.run_id
        for name in ("config.yaml", "results.json"):
            if (run_dir / name).is_file():
                self.client.log_artifact(run_id, str(run_dir / name))
        for plot in sorted((run_dir / "plots").glob("*.png")):
            self.client.log_artifact(run_id, str(plot), "plots")
        best = run_dir / "checkpoints" / "best.pt"
        if self.log_model and best.is_file():
            self.client.log_artifact(run_id, str(best), "checkpoints")

    def _end(self, status: str) -> None:
        self.client.set_terminated(self.opened.run_id, status)


def _status(finished: bool) -> str:
    """How the run ended: FINISHED, KILLED (a signal, Ctrl-C, a pruned sweep job) or FAILED."""
    error = sys.exc_info()[1]
    if isinstance(error, Interrupted | Pruned | KeyboardInterrupt | SystemExit):
        return "KILLED"
    return "FINISHED" if finished and error is None else "FAILED"


def local_store(run_dir: Path) -> str:
    """The default tracking URI of a run folder: SQLite beside it (see the module docstring)."""
    return f"sqlite:///{run_dir.resolve().parent / 'mlflow.db'}"
