"""How many batches each split gives per epoch: trainer.limit_{train,val,test}_batches,
trainer.overfit_batches and trainer.fast_dev_run, with Lightning's meanings.

A limit is an int (that many batches) or a float (that fraction of the split's batches, rounded
down, at least one; 1.0: every batch), per process. It is applied to the loader's sampler
(data/sampler.py), so whatever reads the loader's length follows it: the steps per epoch, the
scheduler's total steps, the console's ETA. A resumed run skips inside the limited epoch, and
under DDP each rank takes its own share. ``overfit_batches`` trains on the same first batches
every epoch (unshuffled) and validates on those batches; ``fast_dev_run=N`` is one epoch of N
batches of every split that keeps no files (train/run.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dltrain.config.schema import TrainerConfig


@dataclass(frozen=True)
class BatchLimits:
    """The batches per epoch of each split; ``overfit``: validate on the training batches."""

    train: int | float = 1.0
    val: int | float = 1.0
    test: int | float = 1.0
    overfit: bool = False


def batch_limits(trainer: TrainerConfig) -> BatchLimits:
    """The limits the trainer settings give: fast_dev_run, else overfit_batches, else limit_*."""
    if trainer.fast_dev_run > 0:
        batches = trainer.fast_dev_run
        return BatchLimits(batches, batches, batches)
    if trainer.overfit_batches:
        batches = trainer.overfit_batches
        return BatchLimits(batches, batches, trainer.limit_test_batches, overfit=True)
    return BatchLimits(
        trainer.limit_train_batches, trainer.limit_val_batches, trainer.limit_test_batches
    )


def limited_batches(limit: int | float, batches: int) -> int:
    """The batches a limit leaves of ``batches``: a count, or a fraction (at least one)."""
    if isinstance(limit, float):
        return max(1, int(batches * limit)) if batches else 0
    return min(limit, batches)


def limit_loader(loader: Any, limit: int | float, batch_size: int) -> None:
    """Keep the first batches ``limit`` allows of each epoch of ``loader`` (this process)."""
    batches = limited_batches(limit, len(loader))
    if batches < len(loader):
        loader.sampler.limit_to(batches * batch_size)


def fast_dev_run_trainer(trainer: TrainerConfig) -> TrainerConfig:
    """Under trainer.fast_dev_run: one epoch, validated, with no step limit."""
    if trainer.fast_dev_run <= 0:
        return trainer
    return replace(trainer, max_epochs=1, max_steps=-1, val_every=1)
