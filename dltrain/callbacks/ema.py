"""``ema``: an exponential moving average of the weights, updated after optimizer steps.

Built on timm's ``ModelEmaV3`` rather than torch's ``AveragedModel`` + ``get_ema_multi_avg_fn``
(timm is already a dependency):

- no host sync per update: its decay is computed on the host from the step number we pass,
  and the update is one foreach lerp on the device. ``AveragedModel.update_parameters`` reads
  its ``n_averaged`` counter on the host (``n_averaged == 0``) at every update, a device sync
  per step on a GPU;
- the warm-up is timm's (decay ``min(decay, 1 - (1 + (t - 1) / warmup_gamma) ** -warmup_power)``
  at optimizer step t; the first update copies the weights), so early, still-moving weights
  are not held for thousands of steps;
- BatchNorm's running statistics are averaged like the weights (integer counters copied), so the
  EMA model validates with statistics that follow its weights, with no extra pass over the data.

The average is kept on the training device (a second copy of the model). ``decay`` applies per
update: with ``every_n_steps=N`` the average moves every N optimizer steps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from timm.utils.model_ema import ModelEmaV3
from torch import nn

from dltrain.callbacks.averaged import WeightAverage
from dltrain.registry import CALLBACKS
from dltrain.train.checkpoint import load_model_weights

if TYPE_CHECKING:
    from dltrain.train.run import Run
    from dltrain.train.state import TrainState

log = logging.getLogger("dltrain")


@CALLBACKS.register("ema")
class EMA(WeightAverage):
    """callbacks=[ema]: the EMA of the weights, validated as val_ema/*, kept in best.pt."""

    what = "EMA"

    def __init__(
        self,
        decay: float = 0.9998,
        warmup: bool = True,
        warmup_power: float = 0.75,
        warmup_gamma: float = 1.0,
        every_n_steps: int = 1,
        use_for_best: bool = True,
    ) -> None:
        super().__init__("val_ema", use_for_best)
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), e.g. 0.9998; got {decay}")
        if not isinstance(warmup, bool):
            raise ValueError(f"warmup must be true or false, got {warmup!r}")
        if warmup_power <= 0 or warmup_gamma <= 0:
            raise ValueError("warmup_power and warmup_gamma must be positive (timm: 3/4 and 1)")
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int):
            raise ValueError(f"every_n_steps must be a whole number, got {every_n_steps!r}")
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be 1 or more, got {every_n_steps}")
        self.decay, self.warmup, self.every_n_steps = decay, warmup, every_n_steps
        self.warmup_power, self.warmup_gamma = warmup_power, warmup_gamma
        self.model: nn.Module | None = None
        self.ema: ModelEmaV3 | None = None

    def on_fit_start(self, run: Run, state: TrainState) -> None:
        self.model = run.model
        self.ema = ModelEmaV3(
            run.model, decay=self.decay, use_warmup=self.warmup,
            warmup_gamma=self.warmup_gamma, warmup_power=self.warmup_power,
        )  # fmt: skip
        kept = (
            f"; best.pt keeps the EMA weights, decided on {run.monitor}" if self.keeps_best else ""
        )
        warm = f", warm-up power {self.warmup_power}" if self.warmup else ""
        log.info(
            f"ema: decay {self.decay}{warm}, every {self.every_n_steps} step(s), "
            f"validated as val_ema/*{kept}"
        )

    def on_optimizer_step(self, run: Run, state: TrainState) -> None:
        step = state.progress.step
        if step % self.every_n_steps == 0:
            self.ema.update(self.model, step=step)

    def averaged_module(self) -> nn.Module | None:
        return self.ema.module if self.ema is not None else None

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.ema.module.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_model_weights(self.ema.module, state["weights"], f"callbacks.{self.key} (EMA)")
