"""Heartbeats in a real TCPStore: a silent rank is named, a busy rank 0 is waited for, and a
failed worker group is reported with the worker's own message."""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

from dltrain.distributed.liveness import Heartbeat
from dltrain.distributed.torchrun import REPORT_MARK, _failed_run
from dltrain.errors import Interrupted, RunError, UserError


@pytest.fixture
def store() -> dist.Store:
    return dist.TCPStore("127.0.0.1", 0, 1, is_master=True, timeout=timedelta(seconds=10))


def _ranks(store: dist.Store, timeout_s: float = 1.0) -> list[Heartbeat]:
    return [Heartbeat(store, rank, 2, timeout_s) for rank in (0, 1)]


def test_a_rank_that_stopped_beating_is_named(store):
    rank0, rank1 = _ranks(store)
    rank0.start()
    rank1.start()
    time.sleep(2 * rank1.beat_s)
    rank1.stop()  # as if its process were stopped
    err = rank0.explain(RuntimeError("[gloo/transport/tcp] Timed out waiting 1000ms for recv"))
    rank0.stop()
    assert isinstance(err, RunError)
    assert "rank 1 (" in str(err) and "stopped responding" in str(err)
    assert "raise distributed.timeout" in str(err)


def test_a_timeout_while_every_rank_beats_asks_for_a_longer_timeout(store):
    rank0, rank1 = _ranks(store)
    rank0.start()
    rank1.start()
    err = rank0.explain(RuntimeError("[gloo] Timed out waiting 1000ms for recv"))
    rank0.stop()
    rank1.stop()
    assert isinstance(err, RunError) and "Raise distributed.timeout" in str(err)
    assert "every rank was still running" in str(err)


def test_other_errors_are_left_alone(store):
    rank0, rank1 = _ranks(store)
    rank0.start()
    rank1.start()
    assert rank0.explain(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    rank0.stop()
    rank1.stop()


def test_rank0_work_longer_than_the_timeout_is_waited_for(store):
    rank0, rank1 = _ranks(store, timeout_s=1.0)
    rank0.start()
    started = time.monotonic()
    threading.Timer(3.0, rank0.wait_for_rank0).start()  # a 3 s "checkpoint write" on rank 0
    rank1.wait_for_rank0()
    rank0.stop()
    assert time.monotonic() - started >= 2.9


def test_a_silent_rank0_ends_the_wait_naming_it(store):
    rank0, rank1 = _ranks(store, timeout_s=1.0)
    rank0.start()
    rank0.stop()
    with pytest.raises(RunError, match=r"rank 0 \(.*pid \d+\) stopped responding"):
        rank1.wait_for_rank0()


def _failure(tmp_path: Path, rank: int, exitcode: int, report: str | None = None):
    error_file = tmp_path / f"error-{rank}.json"
    if report is not None:
        error_file.write_text(
            json.dumps({"message": report, "timestamp": 100 + rank, REPORT_MARK: True})
        )
    return ProcessFailure(
        local_rank=rank, pid=1000 + rank, exitcode=exitcode, error_file=str(error_file)
    )


def test_the_workers_report_is_the_parents_message(tmp_path: Path):
    failures = {
        0: _failure(tmp_path, 0, 1, "rank 1 (host pid 1001) stopped responding: ..."),
        1: _failure(tmp_path, 1, -signal.SIGKILL),
    }
    err = _failed_run(failures, tmp_path)
    assert isinstance(err, RunError)
    assert str(err).startswith("rank 1 (host pid 1001) stopped responding")
    assert "reported by rank 0" in str(err) and "rank 1 was killed by SIGKILL" in str(err)


def test_without_a_report_the_root_cause_is_named(tmp_path: Path):
    failures = {0: _failure(tmp_path, 0, 1), 1: _failure(tmp_path, 1, -signal.SIGKILL)}
    err = _failed_run(failures, tmp_path)
    assert isinstance(err, RunError) and "rank 1 (local rank 1, pid 1001) was killed" in str(err)


def test_bad_input_on_every_rank_stays_exit_2_and_a_signal_stays_a_stop(tmp_path: Path):
    bad = {r: _failure(tmp_path, r, 2, "data.root: no such folder") for r in (0, 1)}
    assert isinstance(_failed_run(bad, tmp_path), UserError)
    stopped = {r: _failure(tmp_path, r, 128 + signal.SIGTERM) for r in (0, 1)}
    assert isinstance(_failed_run(stopped, tmp_path), Interrupted)
