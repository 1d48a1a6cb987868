"""What the console shows between epoch lines: the run's ETA, and step lines without a bar.

On a terminal the tqdm bar (``progress_bar``) shows epoch, batch/total, the epoch's ETA and
rate, and at each logged step the loss, images/s and the whole run's ETA. When stderr is not a
terminal (a batch job's log file) there is no bar; each logged step is one log line instead.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("dltrain")


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
    """The epoch's batches, wrapped in a tqdm bar on rank 0 when stderr is a terminal."""
    enabled = main and (mode == "on" or (mode == "auto" and sys.stderr.isatty()))
    if not enabled:
        return loader
    from tqdm import tqdm

    return tqdm(
        loader,
        desc=f"epoch {progress.epoch}/{max_epochs}",
        leave=False,
        dynamic_ncols=True,
        unit="batch",
        initial=progress.batch,
        total=progress.batch + len(loader),
    )


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
