"""``early_stopping``: end the run when the monitored metric stops improving.

As Lightning's EarlyStopping: each epoch whose record has the monitored metric (validation
runs every trainer.val_every epochs) either improves on the best value by more than
``min_delta`` or counts one more epoch without improvement; ``patience`` such epochs in a row
end the run after that epoch (its checkpoint saved; a NaN never improves). The default monitor
is the one best.pt is decided on, so the run stops when its best checkpoint stops improving,
and best.pt is tested as in any run. The counter and the best value are in last.pt: a resumed
run counts on, and resuming a run that stopped early does not train it further.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dltrain.callbacks.base import Callback, RunFacts
from dltrain.registry import CALLBACKS
from dltrain.train.monitor import check_monitored, resolve_monitor

if TYPE_CHECKING:
    from dltrain.train.run import Run
    from dltrain.train.state import TrainState

log = logging.getLogger("dltrain")


@CALLBACKS.register("early_stopping")
class EarlyStopping(Callback):
    """callbacks=[early_stopping]: stop after ``patience`` epochs without improvement."""

    def __init__(
        self, monitor: str = "auto", mode: str = "auto", patience: int = 3, min_delta: float = 0.0
    ) -> None:
        if not isinstance(monitor, str):
            raise ValueError(f"monitor must be auto or a metric such as val/loss: {monitor!r}")
        if mode not in ("auto", "max", "min"):
            raise ValueError(f"mode must be auto, max or min, got {mode!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be a whole number of epochs, 0 or more: {patience!r}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be 0 or more, got {min_delta}")
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.best, self.best_epoch, self.wait, self.stopped_epoch = math.nan, 0, 0, 0

    def resolve(self, facts: RunFacts) -> None:
        """``auto`` follows best.pt's metric and direction; a named metric must be logged."""
        if self.monitor == "auto":
            self.monitor, mode = facts.monitor, facts.mode
            self.mode = mode if self.mode == "auto" else self.mode
            return
        if facts.logged is not None:
            key = f"callbacks.{self.key}.monitor"
            check_monitored(key, self.monitor, facts.logged, facts.has_val)
        self.monitor, self.mode = resolve_monitor(self.monitor, self.mode, "")

    @property
    def stop_training(self) -> bool:
        return self.stopped_epoch > 0

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best by more than min_delta (any number beats none)."""
        if math.isnan(value):
            return False
        if math.isnan(self.best):
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, run: Run, state: TrainState, record: Mapping[str, Any]) -> None:
        if self.monitor not in record:  # not measured this epoch (trainer.val_every)
            return
        value = record[self.monitor]
        if self.improves(value):
            self.best, self.best_epoch, self.wait = value, record["epoch"], 0
            return
        self.wait += 1
        if self.wait >= self.patience:  # as Lightning's: 0 stops like 1
            self.stopped_epoch = record["epoch"]
            log.info(
                f"early stopping: {self.monitor} did not improve by {self.min_delta:g} for "
                f"{self.wait} epochs (best {self.best:.4f} at epoch {self.best_epoch}); the "
                f"run ends after epoch {self.stopped_epoch}"
            )

    def on_fit_end(self, run: Run, state: TrainState, results: dict[str, Any]) -> None:
        if self.stopped_epoch:
            results["stopped_early_at_epoch"] = self.stopped_epoch

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.stopped_epoch = state["wait"], state["stopped_epoch"]
