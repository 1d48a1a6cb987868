"""The runner's one logging hook: every event goes to metrics.jsonl, then to each logger.

Only rank 0 writes; on other ranks the writer does nothing, so the runner calls it everywhere.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

from dltrain.loggers.base import LoggerRun
from dltrain.train.run_files import MetricsFile

log = logging.getLogger("dltrain")


class MetricsWriter:
    def __init__(self, metrics_file: MetricsFile, loggers: Iterable[Any], enabled: bool) -> None:
        self.metrics_file, self.loggers, self.enabled = metrics_file, list(loggers), enabled

    def log_step(self, event: Mapping[str, Any]) -> None:
        """A training-step event (loss, lr, throughput, gradient norm)."""
        self._write(event, "step")

    def log_epoch(self, record: Mapping[str, Any]) -> None:
        """An epoch's record (train and val metrics, lr, throughput, seconds)."""
        self._write(record, "epoch")

    def _write(self, event: Mapping[str, Any], kind: str) -> None:
        if not self.enabled:
            return
        clean = {k: None if _nonfinite(v) else v for k, v in event.items()}
        self.metrics_file.write(clean)
        for logger in self.loggers:
            logger.log(clean, kind)

    def finish(self, results: Mapping[str, Any]) -> None:
        """The tested run's results (after results.json and the plots are written)."""
        for logger in self.loggers:
            logger.finish(results)

    def close(self) -> None:
        for logger in self.loggers:
            try:
                logger.close()
            except Exception as err:  # noqa: BLE001 - a logger must not hide the run's outcome
                log.warning(f"closing logger {type(logger).__name__} failed: {err}")


def _nonfinite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def open_writer(
    sections: Mapping[str, Mapping[str, Any]],
    run: LoggerRun,
    metrics_file: MetricsFile,
    enabled: bool,
) -> MetricsWriter:
    """The writer for ``logger=[...]`` (each logger.<option> section: its name and options);
    loggers are built on the writing rank only."""
    from dltrain.loggers import LOGGERS

    loggers = []
    for section in sections.values() if enabled else ():
        options = {key: value for key, value in section.items() if key != "name"}
        loggers.append(LOGGERS.get(section["name"])(run, **options))
    return MetricsWriter(metrics_file, loggers, enabled)
