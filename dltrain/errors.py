"""The two ways a command can fail, and the exit codes the contract gives them."""

from __future__ import annotations

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
