"""The files of a run folder: train.log, metrics.jsonl, results.json (README, "The run folder")."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOGGER_NAME = "dltrain"


def setup_logging(run_dir: Path | None, rank: int = 0) -> logging.Logger:
    """Console and train.log for rank 0; other ranks only print warnings."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    logger.propagate = False
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(console)
    if run_dir is not None and rank == 0:
        file = RunLogFile(run_dir / "train.log", encoding="utf-8")
        file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(file)
    return logger


def close_run_log() -> None:
    """Detach and close train.log, for a process that goes on after its run (dltrain.train):
    later log lines must not land in a finished run's file."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if isinstance(h, RunLogFile)]:
        logger.removeHandler(handler)
        handler.close()


class RunLogFile(logging.FileHandler):
    """train.log: a write the disk refuses ends the run (errors.exit_codes says so) instead of
    logging's own "--- Logging error ---" traceback on every later line."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            raise error
        super().handleError(record)


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsFile:
    """metrics.jsonl: one JSON object per logged event, appended and flushed at once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as handle:
            return sum(1 for _ in handle)

    def truncate(self, keep: int) -> None:
        """Drop events logged after the checkpoint a resumed run continues from."""
        if not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as handle:
            kept = handle.readlines()[:keep]
        write_text_atomic(self.path, "".join(kept))

    def write(self, event: Mapping[str, Any]) -> None:
        record = {key: _clean(value) for key, value in event.items()}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()


def public_mode() -> int:
    """The mode a plain open() would give a new file (mkstemp's files are owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# What ``temp_file_beside`` names its files: .NAME. + mkstemp's 8 random characters + .tmp
PARTIAL_WRITE = ".*.????????.tmp"


def temp_file_beside(path: Path) -> tuple[int, str]:
    """A new temporary file next to ``path`` (one file system, so ``os.replace`` is atomic),
    with the mode a plain open() gives. A killed write leaves it: see ``remove_partial_writes``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, public_mode())
    return fd, tmp


def remove_partial_writes(folder: Path) -> list[Path]:
    """Delete the temporary files that killed atomic writes left in ``folder``; call it only
    while holding the run folder (no other process writes there)."""
    leftovers = sorted(folder.glob(PARTIAL_WRITE))
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    cleaned = {key: _clean(value) for key, value in data.items()}
    write_text_atomic(path, json.dumps(cleaned, indent=2, sort_keys=True) + "\n")
