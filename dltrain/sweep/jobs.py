"""The parent side of one sweep job: skip it when done, else run it in a fresh process and
record how it ended in JOB_DIR/job.json. A failed job does not stop the sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dltrain.errors import EXIT_PRUNED, Interrupted
from dltrain.sweep.status import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    PRUNED,
    RUNNING,
    objective,
    read_results,
    write_status,
)

JOB_COMMAND = [sys.executable, "-m", "dltrain.sweep.job_process"]


def run_sweep_job(job_dir: Path, overrides: list[str], num: int) -> float | None:
    """Run the job whose config is frozen in ``job_dir``; its objective, or None if it did not
    complete. A job whose results.json exists is not run again (a re-run sweep skips it)."""
    done = read_results(job_dir)
    if done is not None:
        print(f"dltrain: job {num} already completed in {job_dir}; skipped")
        write_status(job_dir, status=COMPLETED, objective=objective(done), monitor=done["monitor"])
        return objective(done)
    started = time.time()
    write_status(
        job_dir,
        job=num,
        status=RUNNING,
        overrides=overrides,
        exit_code=None,
        started=started,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
    )
    code = _run(job_dir)
    status = _status_of(code)
    results = read_results(job_dir) if status == COMPLETED else None
    write_status(
        job_dir,
        status=status,
        exit_code=code,
        ended=time.time(),
        seconds=round(time.time() - started, 2),
        objective=objective(results),
        monitor=results and results.get("monitor"),
    )
    if status == INTERRUPTED:
        signum = code - 128 if code > 128 else -code
        raise Interrupted(signum, f"sweep stopped in job {num}; the same command resumes it.")
    if status == FAILED:
        print(f"dltrain: job {num} failed (exit {code}); see {job_dir / 'train.log'}", flush=True)
    return objective(results)


def _status_of(code: int) -> str:
    if code == 0:
        return COMPLETED
    if code == EXIT_PRUNED:
        return PRUNED
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM):
        return INTERRUPTED
    return FAILED


def _run(job_dir: Path) -> int:
    """The job process's exit code. SIGTERM to the sweep is passed on to the job, which then
    saves a checkpoint; Ctrl-C reaches both, and the sweep waits for the job to save."""
    proc = subprocess.Popen([*JOB_COMMAND, str(job_dir)])
    in_main = threading.current_thread() is threading.main_thread()
    previous: Any = None
    if in_main:
        previous = signal.signal(signal.SIGTERM, lambda signum, _: proc.send_signal(signum))
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                continue  # the job got the same SIGINT: let it save and exit
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
