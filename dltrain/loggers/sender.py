"""A background sender: what a logger hands over is sent on a thread of its own, in order.

The training thread only appends to a bounded queue, so a tracking server that is slow or gone
never stalls a step. The sender thread sends the queued items in batches (everything waiting,
up to ``batch_size`` per call) and runs one-off jobs (open the run, upload files, end it) in
the order they were handed in. The first failure is one warning, after which nothing more is
sent (metrics.jsonl keeps every value); ``close`` waits a bounded time for what is queued,
then gives up with a warning.

Why not MLflow's own asynchronous logging (``log_batch(..., synchronous=False)``): its queue
is unbounded, it logs an error for every batch that fails, and its flush waits without a bound
(at interpreter exit too), so a dead server would grow memory, flood the log and hold the end
of the run.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("dltrain")

_ITEM, _JOB, _STOP = "item", "job", "stop"


class BackgroundSender:
    """One daemon thread that sends items in batches and runs jobs, in the order handed in."""

    def __init__(
        self,
        what: str,
        send_batch: Callable[[list[Any]], None],
        batch_size: int,
        capacity: int = 100_000,
    ) -> None:
        """``what`` names the destination in warnings (``MLflow at http://host:5000``);
        ``send_batch(items)`` sends up to ``batch_size`` items; ``capacity``: items and jobs
        that may wait before new ones are dropped."""
        self.what, self._send_batch, self._batch_size = what, send_batch, batch_size
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(capacity)
        self._held: tuple[str, Any] | None = None  # taken from the queue, not yet handled
        self.failure: str | None = None  # why sending stopped
        self.dropped = 0
        self._thread = threading.Thread(target=self._loop, name=f"dltrain {what}", daemon=True)
        self._thread.start()

    def add(self, item: Any) -> None:
        """Queue an item for the next batch; never blocks (dropped when the queue is full)."""
        self._put((_ITEM, item))

    def call(self, job: Callable[[], None]) -> None:
        """Run ``job()`` on the sender's thread after everything handed in before it."""
        self._put((_JOB, job))

    def _put(self, entry: tuple[str, Any]) -> None:
        if self.failure is not None:
            return
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1:
                log.warning(
                    f"{self.what} is not keeping up: values are dropped until it catches up "
                    "(metrics.jsonl has them all)"
                )

    def close(self, timeout: float) -> bool:
        """Send what is queued, waiting at most ``timeout`` seconds; True when all was sent."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):  # then the thread is still behind: warned below
            self._queue.put((_STOP, None), timeout=timeout)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            log.warning(
                f"{self.what} did not take the run's last {self._queue.qsize()} values or "
                f"files within {timeout:g} s; giving up (metrics.jsonl has every value)"
            )
            return False
        return self.failure is None

    def _loop(self) -> None:
        while True:
            kind, payload = self._next()
            if kind == _STOP:
                return
            if self.failure is not None:
                continue  # drain: nothing more is sent after a failure
            try:
                if kind == _JOB:
                    payload()
                else:
                    self._send_batch([payload, *self._more_items()])
            except Exception as err:  # noqa: BLE001 - a failure to log must not end the run
                self.failure = f"{type(err).__name__}: {_first_line(err)}"
                log.warning(
                    f"{self.what}: {self.failure}. Nothing more is sent to it in this run; the "
                    "run goes on (metrics.jsonl has every value)."
                )
                log.debug("the failure's traceback", exc_info=True)

    def _next(self) -> tuple[str, Any]:
        if self._held is not None:
            entry, self._held = self._held, None
            return entry
        return self._queue.get()

    def _more_items(self) -> list[Any]:
        """Items waiting right behind the first, up to a batch; a job or the stop is held."""
        items: list[Any] = []
        while len(items) + 1 < self._batch_size:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if entry[0] != _ITEM:
                self._held = entry
                break
            items.append(entry[1])
        return items


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else "(no message)"
