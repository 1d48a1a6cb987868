"""What ``ema`` and ``swa`` share: a second set of weights, validated beside the model's.

Each epoch that validates, the averaged weights are validated too and logged under their own
split (``val_ema/accuracy`` next to ``val/accuracy``). With ``use_for_best`` (the default) best.pt
is decided on that metric and keeps the averaged weights, so everything that reads best.pt
(the run's final test, ``dltrain eval``, ``predict``, ``export``) uses them; last.pt keeps the
model's own weights (what training continues from) and the average in the callback's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torch import nn

from dltrain.callbacks.base import Callback, RunFacts
from dltrain.errors import UserError

if TYPE_CHECKING:
    from dltrain.train.run import Run
    from dltrain.train.state import TrainState


class WeightAverage(Callback):
    """A callback keeping averaged weights (``averaged_module``), validated as ``split``."""

    what = "averaged"  # the weights' name in messages (EMA, SWA)

    def __init__(self, split: str, use_for_best: bool) -> None:
        if not isinstance(use_for_best, bool):
            raise ValueError(f"use_for_best must be true or false, got {use_for_best!r}")
        self.metric_split, self.keeps_best = split, use_for_best

    def averaged_module(self) -> nn.Module | None:
        """The averaged weights as a model ready to validate; None while there are none."""
        raise NotImplementedError

    def resolve(self, facts: RunFacts) -> None:
        if not facts.has_val:
            raise UserError(
                f"callbacks.{self.key}: the {self.what} weights are validated on the "
                "validation split, and this run has none (data.val_split=0), so they would "
                "never be used. Set data.val_split > 0, or drop the callback."
            )

    def best_metric(self, monitor: str) -> str:
        split, _, metric = monitor.partition("/")
        if split != "val":
            raise UserError(
                f"callbacks.{self.key}.use_for_best=true decides best.pt on the {self.what} "
                f"weights' validation metrics, but checkpoint.monitor={monitor} is not a val/ "
                f"metric. Monitor one (checkpoint.monitor=val/loss, with data.val_split > 0), "
                f"or set callbacks.{self.key}.use_for_best=false."
            )
        return f"{self.metric_split}/{metric}"

    def on_validation_end(self, run: Run, state: TrainState, record: dict[str, Any]) -> None:
        module = self.averaged_module()
        if module is None:
            return
        scores = run.evaluate(run.loaders.val, module)
        record.update({f"{self.metric_split}/{k}": v for k, v in scores.items()})

    def best_weights(self) -> Mapping[str, Any] | None:
        module = self.averaged_module()
        return module.state_dict() if module is not None else None

    def on_fit_end(self, run: Run, state: TrainState, results: dict[str, Any]) -> None:
        """When best.pt holds these weights, the tested val/* are theirs: repeated under the
        split's name, so results.json has the monitored key (a sweep's objective)."""
        if self.keeps_best and state.best.scored:
            tested = {k.partition("/")[2]: v for k, v in results.items() if k.startswith("val/")}
            results.update({f"{self.metric_split}/{k}": v for k, v in tested.items()})
