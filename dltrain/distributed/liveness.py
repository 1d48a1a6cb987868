"""Which ranks are alive: a hang names the rank that hung, and a busy rank is not taken for one.

A collective that times out (``distributed.timeout``) only says that some rank did not arrive.
So each rank beats: a daemon thread adds 1 to the rank's counter in torchrun's rendezvous store
every ``beat_s`` seconds. The thread stops with its process (SIGSTOP, a crash, a lost machine)
but keeps beating while the main thread is busy in a long operation. That gives two things:

- ``collective_faults``: a failed collective becomes a RunError that names the ranks whose
  counters stood still, or says that every rank was alive and the timeout was too short;
- ``wait_for_rank0``: work that only rank 0 does (writing a checkpoint) is waited for through
  the store for as long as rank 0 beats, never in a collective that distributed.timeout ends.

The store is torchrun's (the launcher's agent holds it), so it answers while any worker hangs.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dltrain.errors import RunError

_BEATS = "dltrain/beats/"  # + rank: how many times that rank's heartbeat thread has beaten
_WHO = "dltrain/who/"  # + rank: "host pid N", for the message that names a rank
_current: Heartbeat | None = None


class Heartbeat:
    """This rank's beating thread, and what the store tells about the other ranks."""

    def __init__(self, store: Any, rank: int, world_size: int, timeout_s: float) -> None:
        self.store, self.rank, self.world_size, self.timeout_s = store, rank, world_size, timeout_s
        self.beat_s = min(5.0, max(0.5, timeout_s / 10))
        self._stopped = threading.Event()
        self._rank0_waits = 0
        self._thread = threading.Thread(target=self._beat, name="dltrain-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self.store.set(f"{_WHO}{self.rank}", f"{socket.gethostname()} pid {os.getpid()}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def _beat(self) -> None:
        while not self._stopped.is_set():
            try:
                self.store.add(f"{_BEATS}{self.rank}", 1)
            except Exception:  # the store is gone: the job is ending anyway
                return
            self._stopped.wait(self.beat_s)

    def beats(self, rank: int) -> int:
        return int(self.store.add(f"{_BEATS}{rank}", 0))  # add 0: reads without blocking

    def who(self, rank: int) -> str:
        key = f"{_WHO}{rank}"
        return self.store.get(key).decode() if self.store.check([key]) else "never started"

    def silent_ranks(self) -> list[int]:
        """The other ranks whose counters stand still over three beats."""
        others = [r for r in range(self.world_size) if r != self.rank]
        before = {r: self.beats(r) for r in others}
        time.sleep(3 * self.beat_s)
        return [r for r in others if self.beats(r) == before[r]]

    def wait_for_rank0(self) -> None:
        """All ranks call this after work that only rank 0 does: rank 0 marks it done, the
        others wait for the mark for as long as rank 0 beats (a long save is no hang)."""
        self._rank0_waits += 1
        done = f"dltrain/rank0-done/{self._rank0_waits}"
        if self.rank == 0:
            self.store.set(done, "1")
            return
        last, since, pause = self.beats(0), time.monotonic(), 0.01
        while not self.store.check([done]):
            time.sleep(pause)
            pause = min(2 * pause, self.beat_s)
            beats = self.beats(0)
            if beats != last:
                last, since = beats, time.monotonic()
            elif time.monotonic() - since > self.timeout_s:
                raise RunError(self._hung_message([0], still_s=self.timeout_s))

    def explain(self, err: BaseException) -> RunError | None:
        """The RunError for a failed collective, or None when ``err`` is not about a rank."""
        try:
            silent = self.silent_ranks()
        except Exception:  # the store does not answer either
            silent = []
        if silent:
            return RunError(self._hung_message(silent, still_s=3 * self.beat_s))
        if "timed out" in str(err).lower() or "timeout" in type(err).__name__.lower():
            return RunError(
                f"rank {self.rank}: a collective waited longer than distributed.timeout="
                f"{self.timeout_s:g} s for another rank while every rank was still running, so "
                "one rank was only slower (a long data load, torch.compile, uneven work). "
                "Raise distributed.timeout (seconds)."
            )
        return None

    def _hung_message(self, ranks: list[int], still_s: float) -> str:
        names = ", ".join(f"rank {r} ({self.who(r)})" for r in ranks)
        return (
            f"{names} stopped responding: rank {self.rank} waited distributed.timeout="
            f"{self.timeout_s:g} s for it and its heartbeat stood still for the last "
            f"{still_s:g} s (the process is stopped, hung or dead, or its machine is down). "
            "If it was only slow, raise distributed.timeout (seconds)."
        )


def start(store: Any, rank: int, world_size: int, timeout_s: float) -> None:
    """Start this process's heartbeat (after the process group is set up)."""
    global _current
    stop()
    _current = Heartbeat(store, rank, world_size, timeout_s).start()


def stop() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None


def wait_for_rank0() -> None:
    """After work only rank 0 does: see ``Heartbeat.wait_for_rank0`` (no-op without DDP)."""
    if _current is not None:
        _current.wait_for_rank0()


def _is_collective_failure(err: BaseException) -> bool:
    """torch.distributed's errors, and gloo's plain RuntimeErrors (they name gloo's sources)."""
    import torch.distributed as dist

    return isinstance(err, dist.DistError) or (isinstance(err, RuntimeError) and "gloo" in str(err))


@contextmanager
def collective_faults() -> Iterator[None]:
    """A collective that failed because a rank hung, died or was too slow, as a RunError that
    names the rank and the fix, instead of the backend's traceback."""
    try:
        yield
    except RuntimeError as err:
        if _current is None or not _is_collective_failure(err):
            raise
        explained = _current.explain(err)
        if explained is None:
            raise
        raise explained from err
