"""A Hydra callback: when a multirun ends, name the jobs that failed and exit 1.

Jobs never raise into Hydra (one failed job must not stop the others), so the sweep's exit
code is decided here, from the job.json files, whatever launcher ran the jobs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from dltrain.errors import EXIT_RUN_FAILED
from dltrain.sweep.sacct import quiet_sacct_warnings
from dltrain.sweep.status import FAILED, STATUS_FILE, read_status


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Every job folder under a sweep folder (those holding a job.json), in job order."""
    found = [p.parent for p in sweep_dir.rglob(STATUS_FILE) if ".submitit" not in p.parts]
    return sorted(found, key=lambda p: (len(p.parts), _num(p.name), str(p)))


def _num(name: str) -> int:
    return int(name) if name.isdigit() else -1


class SweepOutcome(Callback):
    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        quiet_sacct_warnings()  # hydra/launcher=submitit_slurm polls sacct

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        failed = []
        for job_dir in job_dirs(sweep_dir):
            status = read_status(job_dir) or {}
            if status.get("status") == FAILED:
                overrides = " ".join(status.get("overrides") or [])
                failed.append(f"{job_dir.name} ({overrides}; exit {status.get('exit_code')})")
        print(f"dltrain: sweep in {sweep_dir}; table: dltrain report {sweep_dir}", flush=True)
        if failed:
            print(
                f"dltrain: error: {len(failed)} job(s) failed: {', '.join(failed)}. Their "
                "train.log says why; re-running the same command re-runs only unfinished jobs.",
                file=sys.stderr,
            )
            sys.exit(EXIT_RUN_FAILED)
