"""A sweep's (or a run's) report: every job's overrides, status and final metrics, best objective
first; written as report.csv, report.md and report.png (each job's validation curve) for
``dltrain report`` (dltrain/cli/report.py). Reads only the files jobs leave behind; no torch."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltrain.errors import UserError
from dltrain.plots.curves import read_events, split_events
from dltrain.sweep.status import COMPLETED, objective, read_results, read_status
from dltrain.train.monitor import resolve_monitor

STATUS_ORDER = {COMPLETED: 0, "pruned": 1, "running": 2, "interrupted": 3, "failed": 4}


@dataclass
class Job:
    name: str
    folder: Path
    status: str
    overrides: str
    objective: float | None
    metrics: dict[str, Any] = field(default_factory=dict)


def write_report(folder: Path) -> tuple[str, list[Path]]:
    """(the Markdown table, [report.csv, report.md, report.png]) of a sweep or run folder."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UserError(
            f"{folder} is not a folder: give a sweep folder (hydra.sweep.dir) or a run."
        )
    jobs = collect(folder)
    monitor, mode = objective_of(jobs)
    jobs = sort_jobs(jobs, mode)
    columns = metric_columns(jobs)
    rows = [_row(job, columns) for job in jobs]
    header = ["job", "status", "overrides", f"{monitor} ({mode})", *columns]
    markdown = _markdown(header, rows)
    written = [
        _write(folder / "report.csv", _csv(header, rows)),
        _write(folder / "report.md", f"# Sweep report: {folder}\n\n{markdown}"),
    ]
    from dltrain.plots.sweep_curves import plot_curves

    written.append(plot_curves(jobs, monitor, folder / "report.png"))
    return markdown, written


def collect(folder: Path) -> list[Job]:
    """One Job per run folder: the folder itself, or every job folder under a sweep."""
    if (folder / "config.yaml").is_file():
        dirs = [folder]
    else:
        found = {p.parent for p in folder.rglob("config.yaml")} | {
            p.parent for p in folder.rglob("job.json")
        }
        # not job folders: submitit's, checkpoints, logger=[mlflow]'s artifacts (config.yaml)
        skipped = {".submitit", "checkpoints", "mlartifacts"}
        dirs = sorted(
            (d for d in found if not skipped & set(d.parts)),
            key=lambda d: (len(d.parts), int(d.name) if d.name.isdigit() else -1, str(d)),
        )
    if not dirs:
        raise UserError(
            f"no runs in {folder}: a run folder holds config.yaml, a sweep folder one folder "
            "per job. Give the folder that `dltrain train` printed."
        )
    return [_job(d, folder) for d in dirs]


def _job(folder: Path, root: Path) -> Job:
    status = read_status(folder) or {}
    results = read_results(folder)
    state = status.get("status") or (COMPLETED if results else "unfinished")
    name = str(folder.relative_to(root)) if folder != root else folder.name
    metrics = {k: v for k, v in (results or {}).items() if k.startswith(("val/", "test/"))}
    metrics["epochs"] = _epochs_run(folder)  # how far a pruned or failed job got
    if results:
        metrics["best_epoch"] = results.get("best_epoch")
        metrics["monitor"] = results.get("monitor")
    return Job(
        name=name,
        folder=folder,
        status=state,
        overrides=" ".join(status.get("overrides") or []),
        objective=objective(results),
        metrics=metrics,
    )


def objective_of(jobs: list[Job]) -> tuple[str, str]:
    """The monitored metric and its direction, as the runner resolved them (checkpoint.mode)."""
    monitor = next((j.metrics["monitor"] for j in jobs if j.metrics.get("monitor")), "val/loss")
    mode = "auto"
    for job in jobs:
        config = job.folder / "config.yaml"
        if config.is_file():
            import yaml

            mode = (yaml.safe_load(config.read_text()) or {}).get("checkpoint", {}).get("mode")
            break
    return resolve_monitor(monitor, mode if mode in ("max", "min") else "auto", "")


def sort_jobs(jobs: list[Job], mode: str) -> list[Job]:
    sign = -1.0 if mode == "max" else 1.0

    def key(job: Job) -> tuple[int, float]:
        value = sign * job.objective if job.objective is not None else float("inf")
        return STATUS_ORDER.get(job.status, 5), value

    return sorted(jobs, key=key)


def metric_columns(jobs: list[Job]) -> list[str]:
    keys = {k for j in jobs for k in j.metrics if k != "monitor"}
    return sorted(keys, key=lambda k: (k in ("epochs", "best_epoch"), k))


def _epochs_run(folder: Path) -> int:
    path = folder / "metrics.jsonl"
    return len(split_events(read_events(path))[0]) if path.is_file() else 0


def _row(job: Job, columns: list[str]) -> list[str]:
    return [job.name, job.status, job.overrides, _fmt(job.objective)] + [
        _fmt(job.metrics.get(c)) for c in columns
    ]


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _write(path: Path, text: str) -> Path:
    from dltrain.train.run_files import write_text_atomic

    write_text_atomic(path, text)
    return path
