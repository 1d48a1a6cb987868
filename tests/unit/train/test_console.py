"""The console: log lines above the tqdm bar (never inside its line), a bar or step lines in
narrow and zero-width terminals, and other libraries' log lines not labelled [HYDRA]."""

from __future__ import annotations

import fcntl
import io
import logging
import logging.config
import os
import pty
import struct
import termios
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from omegaconf import OmegaConf

from dltrain.config.compose import compose
from dltrain.train.console import MIN_BAR_COLUMNS, ProgressBar, progress_bar
from dltrain.train.run_files import setup_logging

LINE = "first optimizer step after 0.12s"


def screen(text: str) -> list[str]:
    """What a terminal shows for ``text``: '\\r' returns to the line's start and overwrites."""
    lines, current, column = [], [], 0
    for char in text:
        if char == "\n":
            lines.append("".join(current).rstrip())
            current, column = [], 0
        elif char == "\r":
            column = 0
        else:
            current[column : column + 1] = [char]
            column += 1
    return [*lines, "".join(current).rstrip()]


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put the loggers back as they were (handlers, level, propagation)."""
    names = ("dltrain", "", "hydra", "hydra_plugins")  # every logger hydra_logging configures
    saved = [
        (lg, list(lg.handlers), lg.level, lg.propagate)
        for lg in (logging.getLogger(name) for name in names)
    ]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers, logger.level, logger.propagate = handlers, level, propagate


def _open_bar(loader: Any, mode: str = "on") -> Any:
    progress = SimpleNamespace(epoch=1, batch=0)
    return progress_bar(loader, progress, max_epochs=2, mode=mode, main=True)


def test_log_line_lands_above_the_bar_not_inside_it(monkeypatch, restored_logging) -> None:
    terminal = io.StringIO()  # stdout and stderr on one terminal, as a user sees them
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.setattr("sys.stderr", terminal)
    setup_logging(None)
    bar = _open_bar(range(6))
    assert isinstance(bar, ProgressBar)
    for batch in bar:
        bar.refresh()
        if batch == 2:
            logging.getLogger("dltrain").info(LINE)
            logging.getLogger("matplotlib").warning("a library's line")
    bar.close()
    logging.getLogger("dltrain").info("epoch 1/2  train/loss 0.5")
    shown = screen(terminal.getvalue())
    assert LINE in shown, shown  # a line of its own, nothing of the bar on it
    assert "a library's line" in shown
    assert "epoch 1/2  train/loss 0.5" in shown
    assert "epoch 1/2:   0%|" in terminal.getvalue()  # the bar was drawn (and cleared at close)
    # closed: the console handler is the plain one again, train.log's handlers untouched
    assert [type(h) for h in logging.getLogger("dltrain").handlers] == [logging.StreamHandler]


def _pty_stream(columns: int) -> tuple[Any, int]:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return os.fdopen(follower, "w"), leader


@pytest.mark.parametrize(
    ("columns", "bar"), [(10, False), (MIN_BAR_COLUMNS - 1, False), (0, True), (120, True)]
)
def test_bar_in_narrow_and_zero_width_terminals(columns: int, bar: bool, monkeypatch) -> None:
    """Narrower than a readable bar: no bar (the step report prints lines); a terminal that
    reports 0 columns gets a bar of the usual width instead of an empty line."""
    stream, leader = _pty_stream(columns)
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.delenv("COLUMNS", raising=False)
    try:
        shown = _open_bar(range(200), mode="auto")
        assert isinstance(shown, ProgressBar) is bar
        if bar:
            expected = 80 if columns == 0 else None  # shutil's fallback; else tqdm follows
            assert shown.ncols == (expected or columns - 1)
            shown.close()
            output = os.read(leader, 65536).decode()
            assert "epoch 1/2:   0%|" in output and "| 0/200 [00:00<?, ?batch/s]" in output
    finally:
        stream.close()
        os.close(leader)


def test_library_lines_are_not_labelled_hydra(capsys, restored_logging) -> None:
    """The parent's logging as Hydra sets it from train.yaml (hydra/hydra_logging=dltrain)."""
    settings = OmegaConf.to_container(compose([]).hydra.hydra_logging)
    logging.config.dictConfig(settings)
    logging.getLogger("matplotlib.font_manager").warning("building the font cache")
    logging.getLogger("matplotlib.font_manager").info("font chatter")
    logging.getLogger("hydra.core.utils").info("Launching 2 jobs locally")
    logging.getLogger("hydra_plugins.dltrain_launchers.parallel_launcher").info("#0 : seed=1")
    logging.getLogger("dltrain.sweep").info("sweep line")
    out = capsys.readouterr().out.splitlines()
    assert "WARNING matplotlib.font_manager: building the font cache" in out
    assert not any("font chatter" in line for line in out)
    assert any(line.endswith("[HYDRA] Launching 2 jobs locally") for line in out)
    assert "sweep line" in out
    assert any(line.endswith("[HYDRA] #0 : seed=1") for line in out)
    assert sum("[HYDRA]" in line for line in out) == 2
