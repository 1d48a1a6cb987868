"""The training state: what moves as a run trains, and so what a checkpoint saves besides the
built parts' state_dicts (model, optimizer, scheduler, GradScaler; see ``Checkpointer.parts``).

``TrainState`` is three things, and a checkpoint holds exactly these three (plus every rank's
RNG and the metrics.jsonl line count, which the Checkpointer captures itself):

- ``progress``: where the run is (epoch, batch inside it, optimizer step, samples, skipped);
- ``best``: the best monitored score so far and its epoch (what best.pt holds);
- ``train_metrics``: the partial train-metric sums of the epoch in progress (and the states of
  the extra metrics, ``metrics=[...]``), so an epoch resumed mid-way reports the same train
  metrics as one that never stopped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from dltrain.config.schema import TrainerConfig
from dltrain.train.metrics import SplitMetrics


@dataclass
class Progress:
    """Counters that a checkpoint saves and a resumed run restores."""

    epoch: int = 1  # the epoch in progress (1-based)
    batch: int = 0  # batches of this epoch already trained (this rank)
    step: int = 0  # optimizer steps taken
    samples: int = 0  # training samples seen by this rank
    skipped: int = 0  # optimizer steps skipped for non-finite gradients (on_nan=skip)


@dataclass
class Best:
    """The best value of the monitored metric so far, and the epoch that reached it."""

    score: float = math.nan  # nan: no epoch has been scored yet
    epoch: int = 0

    @property
    def scored(self) -> bool:
        """Whether an epoch was scored, and so best.pt saved, by this run (or the one it
        resumes): a best.pt without that is an earlier attempt's and is not tested."""
        return not math.isnan(self.score)

    def improved(self, value: float, mode: str) -> bool:
        """Whether ``value`` beats the best score (``mode`` max: higher, min: lower); any
        number beats none, and nan never improves."""
        if math.isnan(self.score):
            return not math.isnan(value)
        return value > self.score if mode == "max" else value < self.score


@dataclass
class TrainState:
    """Everything of a run that a checkpoint saves besides the built parts' state_dicts."""

    train_metrics: SplitMetrics  # the sums of the epoch in progress (this rank's share)
    progress: Progress = field(default_factory=Progress)
    best: Best = field(default_factory=Best)

    def checkpoint_entries(self) -> dict[str, Any]:
        """The checkpoint's ``progress``, ``best``, ``train_sums`` (this rank's, on the
        device: the Checkpointer sums them over ranks) and ``train_extras`` (this rank's extra
        metric states, or None: the Checkpointer keeps one per rank)."""
        return {
            "progress": vars(self.progress).copy(),
            "best": vars(self.best).copy(),
            "train_sums": self.train_metrics.sums,
            "train_extras": self.train_metrics.extras_state(),
        }

    def resume(
        self,
        progress: Mapping[str, int],
        best: Mapping[str, Any],
        train_sums: torch.Tensor,
        train_extras: Mapping[str, Any] | None = None,
    ) -> None:
        """Continue from a checkpoint's entries (what ``checkpoint_entries`` saved)."""
        self.progress, self.best = Progress(**progress), Best(**best)
        self.train_metrics.sums.copy_(train_sums)
        if train_extras is not None and self.train_metrics.extras is not None:
            self.train_metrics.extras.load_state_dict(train_extras)

    def next_epoch(self, fresh_metrics: SplitMetrics) -> None:
        """The epoch's batches are done: move to the next epoch with empty train sums."""
        self.progress.epoch, self.progress.batch = self.progress.epoch + 1, 0
        self.train_metrics = fresh_metrics

    def steps_done(self, trainer: TrainerConfig) -> bool:
        """trainer.max_steps (when set) optimizer steps are taken."""
        return trainer.max_steps > 0 and self.progress.step >= trainer.max_steps

    def finished(self, trainer: TrainerConfig) -> bool:
        """Every epoch is trained, or trainer.max_steps is reached."""
        return self.progress.epoch > trainer.max_epochs or self.steps_done(trainer)
