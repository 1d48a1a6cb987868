"""What the console shows between epoch lines: the run's ETA, and step lines without a bar.

On a terminal the tqdm bar (``progress_bar``) shows epoch, batch/total, the epoch's ETA and
rate, and at each logged step the loss, images/s and the whole run's ETA. When stderr is not a
terminal (a batch job's log file), or one narrower than ``MIN_BAR_COLUMNS``, there is no bar;
each logged step is one log line instead. While a bar is open, every log line goes through
``tqdm.write`` (tqdm's own ``logging_redirect_tqdm``), so it lands above the bar, not inside it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

log = logging.getLogger("dltrain")

# A bar narrower than this shows little more than its "epoch 3/20" (tqdm cuts the line at the
# terminal's width), so a narrower terminal gets the step lines of a batch job instead.
MIN_BAR_COLUMNS = 40


class RunClock:
    """The whole run's remaining time, from the pace of the steps this process has taken."""

    def __init__(self, total_steps: int, start_step: int) -> None:
        self.total, self.start, self.started = total_steps, start_step, time.perf_counter()

    def eta(self, step: int) -> str:
        done = step - self.start
        if done <= 0:
            return "?"
        left = (time.perf_counter() - self.started) / done * max(self.total - step, 0)
        minutes, seconds = divmod(int(left), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}"


def run_steps(steps_per_epoch: int, trainer: Mapping[str, Any]) -> int:
    """Optimizer steps in the whole run: every epoch's, or trainer.max_steps if fewer."""
    total = steps_per_epoch * trainer["max_epochs"]
    return min(total, trainer["max_steps"]) if trainer["max_steps"] > 0 else total


def step_line(event: Mapping[str, Any], max_epochs: int, clock: RunClock) -> str:
    """One logged step as a console line: where the run is, loss, throughput, ETA."""
    return (
        f"epoch {event['epoch']}/{max_epochs}  step {event['step']}/{clock.total}  "
        f"train/loss {event['train/loss']:.4f}  lr {event['lr']:.2e}  "
        f"{event['images_per_sec']:.0f} img/s  eta {clock.eta(event['step'])}"
    )


def progress_bar(loader: Any, progress: Any, max_epochs: int, mode: str, main: bool) -> Any:
    """The epoch's batches, wrapped in a tqdm bar on rank 0 when stderr is a terminal wide
    enough for one (else the loader itself: the step report prints lines instead)."""
    enabled = main and (mode == "on" or (mode == "auto" and sys.stderr.isatty()))
    columns = terminal_columns(sys.stderr)
    if not enabled or (columns is not None and 0 < columns < MIN_BAR_COLUMNS):
        return loader
    # A terminal that reports 0 columns (its size unknown: a serial console, some CI and
    # container terminals) gives tqdm no width to fit: COLUMNS, else the usual 80 (shutil's).
    fixed = shutil.get_terminal_size().columns if columns == 0 else None
    return ProgressBar(
        loader,
        desc=f"epoch {progress.epoch}/{max_epochs}",
        leave=False,
        ncols=fixed,
        dynamic_ncols=fixed is None,
        unit="batch",
        initial=progress.batch,
        total=progress.batch + len(loader),
    )


def terminal_columns(stream: Any) -> int | None:
    """The width of the terminal ``stream`` writes to; None when it is not a terminal."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):  # no file descriptor, or not a terminal
        return None


class ProgressBar(tqdm):
    """A tqdm bar that routes the console's log lines through ``tqdm.write`` while it is open.

    tqdm's ``logging_redirect_tqdm`` swaps the console handlers of the dltrain logger and of
    the root logger (Hydra's and other libraries' lines) for one that clears the bar, writes
    the line and redraws the bar; train.log's file handler is left alone. Closing the bar puts
    the handlers back.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        loggers = [logging.getLogger("dltrain"), logging.getLogger()]
        self._redirect: Any = logging_redirect_tqdm(loggers, tqdm_class=type(self))
        self._redirect.__enter__()
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self._end_redirect()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_redirect()

    def _end_redirect(self) -> None:
        redirect, self._redirect = getattr(self, "_redirect", None), None
        if redirect is not None:
            redirect.__exit__(None, None, None)


class StepReport:
    """Every ``logging.every_n_steps``: loss, lr, images/s and gradient norm to the loggers, and
    to the bar (or, without one, a log line). The one place a step syncs with the host."""

    def __init__(
        self,
        writer: Any,
        optimizer: Any,
        grad_norm: Any,
        clock: RunClock,
        ctx: Any,
        mode: str,
        samples: int,
        extra: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        """``extra``: more values for each event (the callbacks' ``log_values``)."""
        self.writer, self.optimizer, self.grad_norm = writer, optimizer, grad_norm
        self.extra = extra
        self.clock = clock
        self.world_size, self.console = ctx.world_size, mode != "off" and ctx.is_main
        self.since, self.samples = clock.started, samples  # throughput since the run (re)started

    def __call__(self, progress: Any, loss: Any, bar: Any, max_epochs: int) -> None:
        now = time.perf_counter()
        speed = (progress.samples - self.samples) * self.world_size / (now - self.since)
        self.since, self.samples = now, progress.samples
        event = {
            "epoch": progress.epoch,
            "step": progress.step,
            "train/loss": loss.item(),
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_sec": speed,
            "time": time.time(),
            **self.grad_norm.take(),
            **(self.extra() if self.extra is not None else {}),
        }
        self.writer.log_step(event)
        if hasattr(bar, "set_postfix"):
            shown = {"loss": f"{event['train/loss']:.4f}", "img/s": f"{speed:.0f}"}
            bar.set_postfix({**shown, "run_eta": self.clock.eta(progress.step)})
        elif self.console:
            log.info(step_line(event, max_epochs, self.clock))
