"""JOB_DIR/job.json: what happened to one sweep job, read by the sweeper, the sweep's exit
code and ``dltrain report`` (a job's own files cannot say "failed" or "pruned")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dltrain.train.run_files import write_text_atomic

STATUS_FILE = "job.json"
# What a job's exit code means for the sweep (anything else: failed).
COMPLETED, FAILED, PRUNED, RUNNING, INTERRUPTED = (
    "completed",
    "failed",
    "pruned",
    "running",
    "interrupted",
)


def write_status(job_dir: Path, **fields: Any) -> None:
    """Merge ``fields`` into JOB_DIR/job.json (atomic: a crash leaves the old file)."""
    data = read_status(job_dir) or {}
    data.update(fields)
    write_text_atomic(job_dir / STATUS_FILE, json.dumps(data, indent=2, default=str) + "\n")


def read_status(job_dir: Path) -> dict[str, Any] | None:
    return _read_json(job_dir / STATUS_FILE)


def read_results(job_dir: Path) -> dict[str, Any] | None:
    return _read_json(job_dir / "results.json")


def _read_json(path: Path) -> dict[str, Any] | None:
    """The file's JSON; None when it is missing or half-written."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def objective(results: dict[str, Any] | None) -> float | None:
    """The monitored metric of a finished job (the value the sweeper optimises)."""
    if not results or results.get("monitor") not in results:
        return None
    return results[results["monitor"]]
