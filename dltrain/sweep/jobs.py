"""The parent side of one sweep job: skip it when done, else run it in a fresh process and
record how it ended in JOB_DIR/job.json. A failed job does not stop the sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dltrain.distributed.slurm import preemption_signals
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
    code, preempted = _run(job_dir)
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
    if preempted is not None:  # submitit's handler: requeue this SLURM job, then exit
        preempted()
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
    if code in _STOPPED_BY:
        return INTERRUPTED
    return FAILED


# Exit codes of a job stopped (after a save) by SIGINT, SIGTERM or a preemption signal:
# 128+N when it exited itself, -N when Python saw it killed by the signal.
_STOPPED_BY = {
    code
    for signum in (signal.SIGINT, signal.SIGTERM, *preemption_signals())
    for code in (128 + signum, -signum)
}


def _run(job_dir: Path) -> tuple[int, Callable[[], None] | None]:
    """The job process's exit code, and the preemption handler to call once it has saved.

    SIGTERM and the preemption signals (SIGUSR1/2) to the sweep are passed on to the job,
    which then saves a checkpoint; Ctrl-C reaches both, and the sweep waits for the job to
    save. A preemption handler that was installed before (submitit's, in a SLURM job: it
    requeues the job and exits) is held back until the job has stopped, so the requeue never
    cuts its save short.
    """
    proc = subprocess.Popen([*JOB_COMMAND, str(job_dir)])
    forwarded = ForwardedSignals(proc)
    with forwarded:
        while True:
            try:
                return proc.wait(), forwarded.held_back()
            except KeyboardInterrupt:
                continue  # the job got the same SIGINT: let it save and exit


class ForwardedSignals:
    """While a job runs (main thread only): SIGTERM/SIGUSR1/SIGUSR2 go to the job process."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.previous: dict[int, Any] = {}
        self.preempted_by: int | None = None

    def __enter__(self) -> ForwardedSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, *preemption_signals()):
                self.previous[signum] = signal.signal(signum, self._forward)
        return self

    def _forward(self, signum: int, _frame: Any) -> None:
        if signum != signal.SIGTERM:
            self.preempted_by = signum
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def held_back(self) -> Callable[[], None] | None:
        """The handler the preemption signal had before (None: none that is Python's)."""
        handler = self.previous.get(self.preempted_by) if self.preempted_by else None
        if not callable(handler):
            return None
        signum = self.preempted_by
        return lambda: handler(signum, None)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
