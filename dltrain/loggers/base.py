"""What every logger is given and may implement: ``logger=[csv,tensorboard,...]``.

A logger is built on the writing rank only (global rank 0) with the run it logs
(``LoggerRun``) and the keys of its section, ``logger.<name>.*`` (``name`` excepted). The
runner then calls ``log`` for each event, ``finish`` once after results.json and the plots are
written, and ``close`` at the end, also when the run fails or is interrupted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LoggerRun:
    """The run a logger logs: its folder and frozen config, and whether it resumes one."""

    run_dir: Path
    config: Mapping[str, Any]  # config.yaml's resolved dict
    resumed: bool  # continuing from a checkpoint: append to what the interrupted run logged


class Logger:
    """The hooks a logger implements; the defaults do nothing (a logger needs only ``log``).

    ``kind`` of an event: ``step`` for the events every ``logging.every_n_steps``, ``epoch`` for
    the end-of-epoch records. Both carry ``step`` (the optimizer step) and ``epoch``.
    """

    def __init__(self, run: LoggerRun, **options: Any) -> None:
        self.run, self.options = run, options

    def log(self, event: Mapping[str, Any], kind: str) -> None:
        """One event, as metrics.jsonl has it (non-finite values are None)."""

    def finish(self, results: Mapping[str, Any]) -> None:
        """The run is tested: results.json's values, and RUN_DIR/plots if plots=true."""

    def close(self) -> None:
        """Release files and connections; called once, also after a failure."""
