"""sweep/jobs.py: a preemption signal reaches the job first; submitit's handler runs after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from dltrain.sweep.jobs import ForwardedSignals, _status_of
from dltrain.sweep.status import FAILED, INTERRUPTED


def test_a_job_stopped_by_a_preemption_signal_is_interrupted_not_failed():
    for code in (128 + signal.SIGUSR1, 128 + signal.SIGUSR2, -signal.SIGUSR2, 143, 130):
        assert _status_of(code) == INTERRUPTED
    assert _status_of(2) == FAILED and _status_of(1) == FAILED


def test_the_signal_goes_to_the_job_and_the_old_handler_is_held_back():
    called: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, _: called.append(signum))
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with ForwardedSignals(job) as forwarded:
            os.kill(os.getpid(), signal.SIGUSR1)
            deadline = time.monotonic() + 10
            while job.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert job.returncode == -signal.SIGUSR1, "the job got the signal"
            assert called == [], "the old handler waits for the job"
            held = forwarded.held_back()
        assert held is not None
        held()
        assert called == [signal.SIGUSR1]
    finally:
        job.kill()
        signal.signal(signal.SIGUSR1, previous)
