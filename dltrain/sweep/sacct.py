"""submitit's sacct warnings on a SLURM without accounting, said once instead of every poll.

submitit asks ``sacct`` for the state of the jobs it waits for. Where SLURM keeps no job
accounting (no slurmdbd: ``AccountingStorageType=accounting_storage/none``, common on small
clusters) sacct fails, and submitit logs "Bypassing sacct error ..., status may be
inaccurate" on every poll. Nothing is lost: submitit also sees a job end by its result file,
which is how a dltrain sweep learns each job's outcome (job.json, results.json). So the
warnings are dropped, and the first one becomes one line that says this. sacct's own stderr
line ("Slurm accounting storage is disabled") is printed by sacct itself, which submitit
starts without capturing its stderr; the explanation names it.
"""

from __future__ import annotations

import logging
import sys

SUBMITIT_LOGGER = "submitit"
EXPLAINED = (
    'dltrain: sacct cannot report job states on this cluster ("Slurm accounting storage is '
    'disabled": SLURM keeps no job accounting, and sacct prints that line on every poll); '
    "submitit waits for each job's result file instead, so the sweep is unaffected. "
    "submitit's sacct warnings are hidden."
)


class SacctWarnings(logging.Filter):
    """Drops submitit's sacct warnings; the first one prints ``EXPLAINED`` once instead
    (submitit's logger has handlers of its own and propagates to Hydra's: a record let
    through would be printed several times)."""

    def __init__(self) -> None:
        super().__init__()
        self.explained = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "sacct error" not in record.getMessage():
            return True
        if not self.explained:
            self.explained = True
            print(EXPLAINED, file=sys.stderr, flush=True)
        return False


def quiet_sacct_warnings() -> None:
    """Install the filter on submitit's logger (once)."""
    logger = logging.getLogger(SUBMITIT_LOGGER)
    if not any(isinstance(f, SacctWarnings) for f in logger.filters):
        logger.addFilter(SacctWarnings())
