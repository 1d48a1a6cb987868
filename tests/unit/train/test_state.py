"""TrainState, Progress and Best: what a checkpoint saves and a resumed run restores."""

from __future__ import annotations

import math

import pytest
import torch

from dltrain.config.schema import TrainerConfig
from dltrain.train.metrics import metrics_for
from dltrain.train.state import Best, Progress, TrainState

CPU = torch.device("cpu")


def test_a_fresh_progress_starts_at_epoch_1():
    assert vars(Progress()) == {"epoch": 1, "batch": 0, "step": 0, "samples": 0, "skipped": 0}


@pytest.mark.parametrize("mode", ["max", "min"])
def test_any_number_beats_no_score_and_nan_never_improves(mode):
    assert Best().improved(0.5, mode)
    assert not Best().improved(math.nan, mode)
    assert not Best(score=0.5, epoch=1).improved(math.nan, mode)


@pytest.mark.parametrize(
    ("mode", "value", "improved"),
    [("max", 0.6, True), ("max", 0.4, False), ("min", 0.4, True), ("min", 0.6, False)],
)
def test_best_improves_in_the_direction_of_its_mode(mode, value, improved):
    assert Best(score=0.5, epoch=2).improved(value, mode) is improved


def test_an_equal_score_is_no_improvement():
    assert not Best(score=0.5).improved(0.5, "max")
    assert not Best(score=0.5).improved(0.5, "min")


def trained_state() -> TrainState:
    state = TrainState(metrics_for("classification", CPU))
    state.progress = Progress(epoch=2, batch=3, step=7, samples=96, skipped=1)
    state.best = Best(score=0.25, epoch=1)
    outputs = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    state.train_metrics.update(torch.tensor(0.5), outputs, torch.tensor([0, 1, 1]))
    return state


def test_checkpoint_entries_are_progress_best_and_the_train_sums():
    entries = trained_state().checkpoint_entries()
    assert set(entries) == {"progress", "best", "train_sums", "train_extras"}
    assert entries["train_extras"] is None  # no metrics=[...]: nothing beyond the sums
    assert entries["progress"] == vars(Progress(epoch=2, batch=3, step=7, samples=96, skipped=1))
    assert entries["best"] == {"score": 0.25, "epoch": 1}
    assert entries["train_sums"].tolist() == [1.5, 2.0, 3.0]  # loss_sum, correct, count


def test_entries_are_copies_that_later_training_does_not_change():
    state = trained_state()
    entries = state.checkpoint_entries()
    state.progress.step += 1
    state.best.epoch = 5
    assert entries["progress"]["step"] == 7 and entries["best"]["epoch"] == 1


def test_resume_restores_what_checkpoint_entries_saved():
    saved = trained_state()
    entries = saved.checkpoint_entries()
    entries["train_sums"] = entries["train_sums"].clone()
    resumed = TrainState(metrics_for("classification", CPU))
    resumed.resume(**entries)
    assert resumed.progress == saved.progress and resumed.best == saved.best
    assert torch.equal(resumed.train_metrics.sums, saved.train_metrics.sums)
    assert resumed.train_metrics.compute() == saved.train_metrics.compute()


def test_next_epoch_moves_on_with_empty_sums():
    state = trained_state()
    fresh = metrics_for("classification", CPU)
    state.next_epoch(fresh)
    assert (state.progress.epoch, state.progress.batch, state.progress.step) == (3, 0, 7)
    assert state.train_metrics is fresh and not state.train_metrics.sums.any()


@pytest.mark.parametrize(
    ("epoch", "step", "max_epochs", "max_steps", "finished"),
    [
        (1, 0, 1, -1, False),
        (2, 10, 1, -1, True),  # every epoch trained
        (1, 9, 5, 10, False),
        (1, 10, 5, 10, True),  # trainer.max_steps reached mid-run
        (6, 3, 5, 0, True),  # max_steps 0: no step limit
    ],
)
def test_finished_after_the_epochs_or_max_steps(epoch, step, max_epochs, max_steps, finished):
    state = TrainState(metrics_for("classification", CPU), Progress(epoch=epoch, step=step))
    trainer = TrainerConfig(max_epochs=max_epochs, max_steps=max_steps)
    assert state.finished(trainer) is finished
    assert state.steps_done(trainer) is (max_steps > 0 and step >= max_steps)
