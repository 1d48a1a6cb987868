"""StopRequest: the first SIGTERM / SIGINT sets a flag; uninstall restores the old handlers."""

from __future__ import annotations

import os
import signal
import time

import pytest

from dltrain.train.signals import StopRequest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="needs POSIX signals")


def _deliver(signum: int, stop: StopRequest) -> None:
    os.kill(os.getpid(), signum)
    deadline = time.monotonic() + 5
    while stop.signum is None and time.monotonic() < deadline:  # handlers run between bytecodes
        time.sleep(0.01)


def test_sigterm_sets_requested_and_signum_and_uninstall_restores():
    seen = []

    def previous(signum, frame):
        seen.append(signum)

    old_term = signal.signal(signal.SIGTERM, previous)
    old_int = signal.getsignal(signal.SIGINT)
    try:
        stop = StopRequest().install()
        assert not stop.requested and stop.signum is None
        assert signal.getsignal(signal.SIGTERM) == stop._handle
        _deliver(signal.SIGTERM, stop)
        assert stop.requested and stop.signum == signal.SIGTERM
        assert seen == [], "the previous handler is replaced while installed"
        stop.uninstall()
        assert signal.getsignal(signal.SIGTERM) is previous
        assert signal.getsignal(signal.SIGINT) is old_int
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old_term)


def test_a_second_sigint_aborts_at_once():
    old_int = signal.getsignal(signal.SIGINT)
    stop = StopRequest().install()
    try:
        _deliver(signal.SIGINT, stop)
        assert stop.signum == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    finally:
        stop.uninstall()
    assert signal.getsignal(signal.SIGINT) is old_int


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGUSR2])
def test_slurms_preemption_signals_ask_for_a_stop(signum):
    """SLURM's warning before a time limit or preemption (--signal=USR1@60, submitit's USR2)."""
    previous = signal.getsignal(signum)
    stop = StopRequest().install()
    try:
        _deliver(signum, stop)
        assert stop.requested and stop.signum == signum
    finally:
        stop.uninstall()
    assert signal.getsignal(signum) == previous
