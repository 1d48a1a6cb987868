"""The run's callbacks as one object: built from ``callbacks.*`` in the order the config lists
them, each hook passed to every callback, their states saved and restored together.

The recipe holds one ``CallbackList`` (``run.callbacks``) and calls each hook once, whether the
run has no callbacks or several; ``build_callbacks`` is what preflight's dry build and the run
both call, so a callback option that cannot work is refused before a folder exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dltrain.callbacks.base import Callback, RunFacts
from dltrain.errors import UserError
from dltrain.metrics.catalog import logged_keys
from dltrain.registry import CALLBACKS
from dltrain.train.metrics import METRICS, metric_names

if TYPE_CHECKING:
    from dltrain.train.run import Run
    from dltrain.train.state import TrainState

log = logging.getLogger("dltrain")


class CallbackList:
    """Every callback of a run; ``monitor`` is the record key best.pt is decided on."""

    def __init__(self, callbacks: list[Callback], monitor: str) -> None:
        self.callbacks, self.monitor = callbacks, monitor
        # Only the callbacks that act per step are called per step (no Python loop otherwise).
        self._per_step = [c for c in callbacks if _overrides(c, "on_optimizer_step")]
        self._logging = [c for c in callbacks if _overrides(c, "log_values")]

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def on_fit_start(self, run: Run, state: TrainState) -> None:
        for callback in self.callbacks:
            callback.on_fit_start(run, state)

    def on_optimizer_step(self, run: Run, state: TrainState) -> None:
        for callback in self._per_step:
            callback.on_optimizer_step(run, state)

    def on_train_epoch_end(self, run: Run, state: TrainState, record: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_train_epoch_end(run, state, record)

    def on_validation_end(self, run: Run, state: TrainState, record: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_validation_end(run, state, record)

    def on_epoch_end(self, run: Run, state: TrainState, record: Mapping[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(run, state, record)

    def on_fit_end(self, run: Run, state: TrainState, results: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_fit_end(run, state, results)

    @property
    def stop_training(self) -> bool:
        """A callback ended the run (also after a resume: its state says so)."""
        return any(callback.stop_training for callback in self.callbacks)

    def log_values(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for callback in self._logging:
            values.update(callback.log_values())
        return values

    def best_weights(self) -> Mapping[str, Any] | None:
        """The weights best.pt keeps when a callback keeps them (EMA, SWA); None: the model's."""
        for callback in self.callbacks:
            if callback.keeps_best:
                return callback.best_weights()
        return None

    def state_dict(self) -> dict[str, Any]:
        return {callback.key: callback.state_dict() for callback in self.callbacks}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Each callback continues from its saved state; one the checkpoint has no state for
        (added on this resume) starts afresh, and saved states of removed ones are ignored."""
        for callback in self.callbacks:
            if callback.key in state:
                callback.load_state_dict(state[callback.key])
            else:
                log.info(f"callbacks.{callback.key}: not in the checkpoint; it starts afresh")


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


def build_callbacks(
    sections: Mapping[str, Mapping[str, Any]],
    monitor: str,
    mode: str,
    task: str,
    has_val: bool,
    max_epochs: int,
    extra_metrics: Sequence[str] = (),
    classes: int | None = None,
) -> CallbackList:
    """The callbacks of ``callbacks.*`` (in order), resolved against the run: ``monitor`` and
    ``mode`` are checkpoint.monitor / mode resolved for the model's ``task``; the metrics a
    callback may watch are the task's and those of ``metrics=[...]`` (``extra_metrics``)."""
    callbacks = [_build(key, section) for key, section in sections.items()]
    monitor = _best_monitor(callbacks, monitor)
    splits = ["train", "val", *(c.metric_split for c in callbacks if c.metric_split)]
    logged = None
    if task in METRICS:  # a user's task: its metrics are not known before it runs
        names = (*metric_names(task), *logged_keys(extra_metrics, classes))
        logged = tuple(f"{split}/{name}" for split in splits for name in names)
    facts = RunFacts(monitor, mode, logged, has_val, max_epochs)
    for callback in callbacks:
        callback.resolve(facts)
    return CallbackList(callbacks, monitor)


def _build(key: str, section: Mapping[str, Any]) -> Callback:
    """One callback from its section (validate.py has checked that it names one)."""
    callback = CALLBACKS.build(section, where=f"callbacks.{key}")
    if not isinstance(callback, Callback):
        raise UserError(
            f"callback '{section['name']}' (callbacks.{key}) built a {type(callback).__name__}, "
            "not a dltrain.callbacks.Callback: subclass Callback and override its hooks."
        )
    callback.key = key
    return callback


def _best_monitor(callbacks: list[Callback], monitor: str) -> str:
    """The record key best.pt is decided on: checkpoint.monitor, or the same metric of the
    weights a callback keeps in best.pt (val/accuracy -> val_ema/accuracy)."""
    keepers = [c for c in callbacks if c.keeps_best]
    if len(keepers) > 1:
        names = " and ".join(f"callbacks.{c.key}" for c in keepers)
        raise UserError(
            f"{names} both want best.pt to keep their weights; only one can. Set "
            f"callbacks.{keepers[1].key}.use_for_best=false (its metrics are still logged)."
        )
    return keepers[0].best_metric(monitor) if keepers else monitor
