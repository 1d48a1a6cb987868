"""``swa``: stochastic weight averaging (Izmailov et al. 2018) with torch.optim.swa_utils.

torch's own pieces, as its SWA recipe uses them: ``AveragedModel`` holds the running equal-weight
average (updated once per epoch, so its counter's host read costs nothing per step), ``SWALR``
replaces the configured scheduler from ``start_epoch`` (annealing each group's learning rate
to ``swa_lr`` over ``anneal_epochs``), and ``update_bn`` recomputes the BatchNorm statistics of
the averaged weights with a pass over the training batches (averaged weights need their own
statistics; models without BatchNorm skip it).

From ``start_epoch`` on, each epoch's weights join the average at the epoch's end; each epoch
that validates, the average's BatchNorm statistics are recomputed and it is validated as
``val_swa/*``. With ``use_for_best`` best.pt is decided on those (no best.pt before SWA starts)
and keeps the SWA weights, the ones the run tests at its end.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.optim.swa_utils import SWALR, AveragedModel, update_bn

from dltrain.callbacks.averaged import WeightAverage
from dltrain.callbacks.base import RunFacts
from dltrain.errors import UserError
from dltrain.models.batchnorm import kept_in_eval
from dltrain.registry import CALLBACKS

if TYPE_CHECKING:
    from dltrain.train.run import Run
    from dltrain.train.state import TrainState

log = logging.getLogger("dltrain")


@CALLBACKS.register("swa")
class SWA(WeightAverage):
    """callbacks=[swa]: the average of each epoch's weights from ``start_epoch`` on."""

    what = "SWA"

    def __init__(
        self,
        start_epoch: int | float = 0.75,
        swa_lr: float | None = None,
        anneal_epochs: int = 1,
        anneal_strategy: str = "cos",
        use_for_best: bool = True,
    ) -> None:
        super().__init__("val_swa", use_for_best)
        _check_start(start_epoch)
        if swa_lr is not None and not swa_lr > 0:
            raise ValueError(f"swa_lr must be a positive learning rate or null, got {swa_lr}")
        if isinstance(anneal_epochs, bool) or not isinstance(anneal_epochs, int):
            raise ValueError(f"anneal_epochs must be a whole number, got {anneal_epochs!r}")
        if anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be 0 or more, got {anneal_epochs}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be cos or linear, got {anneal_strategy!r}")
        self.start_epoch, self.swa_lr = start_epoch, swa_lr
        self.anneal_epochs, self.anneal_strategy = anneal_epochs, anneal_strategy
        self.first_epoch = 0  # start_epoch as an epoch number (resolve)
        self.averaged: AveragedModel | None = None
        self.schedule: SWALR | None = None
        self.updates = 0  # epochs averaged so far

    def resolve(self, facts: RunFacts) -> None:
        super().resolve(facts)
        start, last = self.start_epoch, facts.max_epochs
        self.first_epoch = start if isinstance(start, int) else int(last * start) + 1
        if self.first_epoch > last:
            raise UserError(
                f"callbacks.{self.key}.start_epoch={start} is after the last epoch "
                f"(trainer.max_epochs={last}), so nothing would be averaged. Set it to at "
                f"most {last}, or to a fraction of the run such as 0.75."
            )

    def on_fit_start(self, run: Run, state: TrainState) -> None:
        self.model, self.optimizer = run.model, run.step.optimizer
        self.averaged = AveragedModel(run.model)
        run.scheduler = SwaSchedule(run.scheduler, self, state)
        lr = "the learning rate reached then" if self.swa_lr is None else f"lr {self.swa_lr}"
        log.info(
            f"swa: averages each epoch's weights from epoch {self.first_epoch} (at {lr}), "
            f"validated as val_swa/*"
            + (f"; best.pt keeps them, decided on {run.monitor}" if self.keeps_best else "")
        )

    def averages(self, epoch: int) -> bool:
        """Whether ``epoch`` is one of the averaged epochs (SWALR sets its learning rate)."""
        return epoch >= self.first_epoch

    def on_train_epoch_end(self, run: Run, state: TrainState, record: dict[str, Any]) -> None:
        if self.averages(record["epoch"]):
            self.averaged.update_parameters(self.model)
            self.updates += 1

    def on_validation_end(self, run: Run, state: TrainState, record: dict[str, Any]) -> None:
        if self.updates == 0:
            return
        loader = run.loaders.train
        loader.sampler.set_epoch(record["epoch"])  # the whole epoch, as it was trained
        _update_unfrozen_bn(loader, self.averaged.module, run.device)
        super().on_validation_end(run, state, record)

    def step_schedule(self) -> None:
        """At the end of an averaged epoch: SWALR's next learning rate (made the first time)."""
        if self.schedule is None:
            self.schedule = self._make_schedule()
        with warnings.catch_warnings():  # built after the epoch's optimizer steps, it warns
            warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)` before")
            self.schedule.step()

    def _make_schedule(self) -> SWALR:
        """SWALR over the optimizer; built when SWA starts (building it sets no new rate)."""
        swa_lr = self.swa_lr
        if swa_lr is None:
            swa_lr = [group["lr"] for group in self.optimizer.param_groups]
        return SWALR(
            self.optimizer, swa_lr=swa_lr, anneal_epochs=self.anneal_epochs,
            anneal_strategy=self.anneal_strategy,
        )  # fmt: skip

    def averaged_module(self) -> nn.Module | None:
        return self.averaged.module if self.averaged is not None and self.updates else None

    def state_dict(self) -> dict[str, Any]:
        return {
            "averaged": self.averaged.state_dict(),
            "updates": self.updates,
            "schedule": self.schedule.state_dict() if self.schedule is not None else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.averaged.load_state_dict(state["averaged"])
        self.updates = state["updates"]
        if state["schedule"] is not None:
            self.schedule = self._make_schedule()
            self.schedule.load_state_dict(state["schedule"])


class SwaSchedule:
    """``run.scheduler`` under SWA: the configured scheduler (``inner``) steps until the SWA
    epochs, SWALR at the end of each of them. The configured scheduler's state is still saved
    by the checkpointer; SWALR's is in the callback's state."""

    def __init__(self, inner: Any, swa: SWA, state: TrainState) -> None:
        self.inner, self.swa, self.state = inner, swa, state
        self.monitor = getattr(inner, "monitor", None)

    def after_optimizer_step(self) -> None:
        if not self.swa.averages(self.state.progress.epoch):
            self.inner.after_optimizer_step()

    def after_epoch(self, record: Mapping[str, Any]) -> None:
        if self.swa.averages(record["epoch"]):
            self.swa.step_schedule()
        else:
            self.inner.after_epoch(record)


def _check_start(start: Any) -> None:
    """An epoch number (1, 2, ...) or a fraction of the run in (0, 1)."""
    if isinstance(start, bool) or not isinstance(start, int | float):
        raise ValueError(f"start_epoch must be an epoch (e.g. 15) or a fraction (0.75): {start!r}")
    if isinstance(start, int) and start < 1:
        raise ValueError(f"start_epoch must be 1 or more (epochs count from 1), got {start}")
    if isinstance(start, float) and not 0.0 < start < 1.0:
        raise ValueError(f"start_epoch as a fraction of the run must be in (0, 1), got {start}")


def _update_unfrozen_bn(loader: Any, module: nn.Module, device: torch.device) -> None:
    """``update_bn`` resets every BatchNorm's statistics before recomputing them; the layers
    that model.freeze / model.freeze_bn keep in eval mode never recompute theirs, so they get
    their statistics back afterwards."""
    frozen = {name: module.get_submodule(name) for name in kept_in_eval(module)}
    kept = {name: copy.deepcopy(dict(layer.named_buffers())) for name, layer in frozen.items()}
    update_bn(loader, module, device)
    for name, layer in frozen.items():
        for buffer_name, value in kept[name].items():
            getattr(layer, buffer_name).copy_(value)
