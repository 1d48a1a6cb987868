"""What the console shows between epoch lines: the run's ETA, and step lines without a bar.

On a terminal the tqdm bar (runner._progress_bar) shows epoch, batch/total, the epoch's ETA and
rate, and at each logged step the loss, images/s and the whole run's ETA. When stderr is not a
terminal (a batch job's log file) there is no bar; each logged step is one log line instead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


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
