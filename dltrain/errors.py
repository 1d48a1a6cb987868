"""The ways a command can fail: one base error that carries its exit code, one place that
prints it. Every verb, the DDP worker and sweep jobs end through ``exit_codes``."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

EXIT_USER_ERROR = 2
EXIT_RUN_FAILED = 1
EXIT_PRUNED = 3  # a sweep job that the Optuna pruner stopped early (not a failure)
# A write the disk refused: full, over quota, over the file-size limit.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class DltrainError(Exception):
    """A failure with a message for the user and the exit code the contract gives it."""

    exit_code = EXIT_RUN_FAILED
    label = "error: "  # printed after "dltrain: "; a stop that is not a failure has none


class UserError(DltrainError):
    """The user's input is wrong (config, data, checkpoint): exit 2 with a message, no traceback."""

    exit_code = EXIT_USER_ERROR


class RunError(DltrainError):
    """The run itself failed (for example a non-finite loss): exit 1 with a message."""


class Interrupted(DltrainError):
    """SIGTERM / SIGINT stopped the run after a checkpoint: exit 128 + the signal number."""

    label = ""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class Pruned(DltrainError):
    """The sweeper's pruner stopped this job after an epoch: exit 3, recorded as pruned."""

    exit_code = EXIT_PRUNED
    label = ""


def report(err: DltrainError) -> NoReturn:
    """Print ``err`` on stderr and exit with its code (HYDRA_FULL_ERROR=1: the traceback)."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1" and err.label:
        raise err
    print(f"dltrain: {err.label}{err}", file=sys.stderr)
    sys.exit(err.exit_code)


@contextmanager
def exit_codes() -> Iterator[None]:
    """Each DltrainError raised inside as its message and its exit code."""
    try:
        with disk_errors():
            yield
    except DltrainError as err:
        report(err)


@contextmanager
def disk_errors() -> Iterator[None]:
    """A write the disk refused (full, quota, size limit) as the RunError the contract gives it;
    shared by the command (``exit_codes``) and ``dltrain.train``, which raises it."""
    try:
        yield
    except OSError as err:
        if err.errno not in DISK_FULL:
            raise
        where = f" ({err.filename})" if err.filename else ""
        raise RunError(
            f"a write to the run folder failed: {err.strerror}{where}. The checkpoints "
            "saved so far are kept; free space on that disk, then run the same command "
            "again: it resumes from the last checkpoint (or starts again if none was saved)."
        ) from None
