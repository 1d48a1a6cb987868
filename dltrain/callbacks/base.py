"""The ``Callback`` class: the hooks a training run calls, and what a callback checks up front.

One callback is one piece of behaviour that a run switches on by name
(``callbacks=[early_stopping,ema]``), as mmengine's hooks and Lightning's callbacks are, so the
recipe (train/recipe.py) stays one readable loop and each extra lives in one file. The run
calls every hook in the order the config lists the callbacks; every hook here does nothing, a
callback overrides the ones it needs. Two more things make a callback a first-class part of a
run:

- ``resolve`` runs in preflight's dry build as in the run, so an option that cannot work (a
  monitor no metric has, an epoch past trainer.max_epochs) is exit 2 before a folder exists;
- ``state_dict`` / ``load_state_dict`` go into last.pt (and step checkpoints), so a resumed run
  continues a callback exactly where the interrupted one was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dltrain.train.run import Run
    from dltrain.train.state import TrainState


@dataclass(frozen=True)
class RunFacts:
    """What a callback may check its options against before the run starts."""

    monitor: str  # the metric best.pt keeps (checkpoint.monitor resolved, see CallbackList)
    mode: str  # max | min
    logged: tuple[str, ...] | None  # every metric of an epoch record; None: a user's task
    has_val: bool  # the data has a validation split
    max_epochs: int


class Callback:
    """Hooks called at fixed points of ``fit``; override the ones a callback needs.

    ``run`` is the run's built pieces (train/run.py ``Run``: model, optimizer, loaders, ...),
    ``state`` what moves as it trains (train/state.py ``TrainState``: progress, best score).
    Every rank calls every hook (a hook that evaluates under DDP takes part in its all-reduce).
    """

    key: str = ""  # its section's name under ``callbacks.`` (set when it is built)
    metric_split: str | None = None  # the split whose metrics it adds (e.g. val_ema)
    keeps_best: bool = False  # best.pt keeps its weights, compared on its metric_split
    stop_training: bool = False  # set (by on_epoch_end) to end the run after this epoch

    def resolve(self, facts: RunFacts) -> None:
        """Fill in ``auto`` options and refuse ones the run cannot honour (raise
        ``dltrain.errors.UserError`` naming ``callbacks.<key>.<option>``); preflight and the
        run both call it, before anything trains."""

    def on_fit_start(self, run: Run, state: TrainState) -> None:
        """Once the run is built, before a resumed run restores the callbacks' state: build
        what the callback keeps (a copy of the model, ...)."""

    def on_optimizer_step(self, run: Run, state: TrainState) -> None:
        """After every optimizer step (``state.progress.step`` is its number), before a step
        checkpoint. Runs every step: read nothing from the device here by default (no
        ``.item()``), or the loop waits for the device at each step."""

    def on_train_epoch_end(self, run: Run, state: TrainState, record: dict[str, Any]) -> None:
        """After the epoch's training steps, before validation; ``record`` has its train/*
        (``record["epoch"]`` is the epoch: ``state.progress`` points at the next one)."""

    def on_validation_end(self, run: Run, state: TrainState, record: dict[str, Any]) -> None:
        """After an epoch's validation (every trainer.val_every epochs): ``record`` has its
        val/*; entries added here are logged and can decide best.pt."""

    def on_epoch_end(self, run: Run, state: TrainState, record: Mapping[str, Any]) -> None:
        """After the epoch's record is logged, before its checkpoint: set ``stop_training``
        to end the run after this epoch (the checkpoint keeps this callback's state)."""

    def on_fit_end(self, run: Run, state: TrainState, results: dict[str, Any]) -> None:
        """After the best weights are tested, before results.json is written: entries added
        to ``results`` land there."""

    def log_values(self) -> dict[str, float]:
        """Values added to every logged step event and epoch record (host values only: this
        runs at each logged step)."""
        return {}

    def best_metric(self, monitor: str) -> str:
        """The record key best.pt is decided on when this callback keeps its weights
        (``keeps_best``), given checkpoint.monitor resolved."""
        return monitor

    def best_weights(self) -> Mapping[str, Any] | None:
        """The state_dict best.pt keeps instead of the model's (``keeps_best`` callbacks)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """What last.pt keeps of this callback (tensors, numbers, strings, lists, dicts)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from what ``state_dict`` returned (after ``on_fit_start``)."""
