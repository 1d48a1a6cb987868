"""``lr_monitor``: the learning rate of every parameter group, logged with every event.

A run with several parameter groups (``optimizer.param_groups=[{match: fc, lr: 1e-2}]``)
logs every group's rate anyway (train/recipe.py ``logged_values``); with one group it logs
``lr`` only. This callback adds ``lr/group0``, ``lr/group1``, ... to each logged step event and
epoch record whatever the groups (``lr`` stays as it is). The rates are host numbers: reading
them costs no device sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dltrain.callbacks.base import Callback
from dltrain.components.optimizers import group_rates
from dltrain.registry import CALLBACKS

if TYPE_CHECKING:
    from dltrain.train.run import Run
    from dltrain.train.state import TrainState


@CALLBACKS.register("lr_monitor")
class LRMonitor(Callback):
    """callbacks=[lr_monitor]: lr/group<N> for every parameter group."""

    def __init__(self) -> None:
        self.optimizer: Any = None

    def on_fit_start(self, run: Run, state: TrainState) -> None:
        self.optimizer = run.step.optimizer

    def log_values(self) -> dict[str, float]:
        return group_rates(self.optimizer) if self.optimizer is not None else {}
