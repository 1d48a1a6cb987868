"""sweep/sacct.py: submitit's sacct warnings become one explanation."""

from __future__ import annotations

import logging

from dltrain.sweep.sacct import EXPLAINED, SacctWarnings


def test_sacct_warnings_are_explained_once_and_others_pass(capsys):
    logger = logging.getLogger("submitit-test")
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger.addHandler(Collect())
    logger.addFilter(SacctWarnings())
    logger.propagate = False
    for call in (1, 2, 3):
        logger.warning(f"Call #{call} - Bypassing sacct error boom, status may be inaccurate.")
    logger.warning("something else")
    assert seen == ["something else"]
    assert capsys.readouterr().err.count(EXPLAINED) == 1
