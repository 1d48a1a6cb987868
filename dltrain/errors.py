"""The two ways a command can fail, and the exit codes the contract gives them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_USER_ERROR = 2
EXIT_RUN_FAILED = 1
EXIT_PRUNED = 3  # a sweep job that the Optuna pruner stopped early (not a failure)


class UserError(Exception):
    """The user's input is wrong (config, data, checkpoint): exit 2 with a message, no traceback."""


class RunError(Exception):
    """The run itself failed (for example a non-finite loss): exit 1 with a message."""


class Interrupted(Exception):
    """SIGTERM / SIGINT stopped the run after a checkpoint: exit 128 + the signal number."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class Pruned(Exception):
    """The sweeper's pruner stopped this job after an epoch: exit 3, recorded as pruned."""


@contextmanager
def exit_codes() -> Iterator[None]:
    """Each error as its message on stderr and its exit code (HYDRA_FULL_ERROR=1: traceback)."""
    try:
        yield
    except Pruned as err:
        print(f"dltrain: {err}", file=sys.stderr)
        sys.exit(EXIT_PRUNED)
    except (UserError, RunError) as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"dltrain: error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR if isinstance(err, UserError) else EXIT_RUN_FAILED)
    except Interrupted as err:
        print(f"dltrain: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
