"""Preemption: SIGTERM, Ctrl-C, SIGUSR1 or SIGUSR2 asks the run to stop after the current
step, with a checkpoint.

SIGUSR1/SIGUSR2 are what SLURM sends before a time limit or a preemption (``sbatch
--signal=USR1@60``; submitit's default is USR2), so a job saves before it is requeued. The
first signal sets a flag the runner checks after every optimizer step; a second SIGINT aborts
at once (checkpoint writes are atomic, so nothing is left half-written).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from dltrain.distributed.slurm import preemption_signals


class StopRequest:
    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT, *preemption_signals()):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
