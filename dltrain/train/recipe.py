"""Fit from a frozen config: build every component, train, checkpoint, test the best weights.

Read ``fit`` top to bottom: set up the run, train its epochs (each one validated), test the
best weights. It is the whole training run, one process or one DDP rank. The built pieces are
one ``Run`` (run.py builds it); what moves as it trains, and so what a checkpoint saves, is one
``TrainState`` (state.py); the per-batch work is in loop.py. The callbacks (``callbacks=[...]``,
one ``run.callbacks``) are called at fixed points: fit start, after each optimizer step, after
an epoch's training, after validation, at the epoch's end and before results.json is written.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from dltrain.components.optimizers import group_rates
from dltrain.config.schema import RunConfig, run_config, to_dict
from dltrain.distributed.context import any_rank, barrier
from dltrain.errors import Interrupted, RunError
from dltrain.train.anomaly import anomaly_detection
from dltrain.train.checkpointer import Checkpointer
from dltrain.train.console import RunClock, StepReport, progress_bar, run_steps
from dltrain.train.grad_norm import GradNorm
from dltrain.train.loop import train_one_epoch
from dltrain.train.metrics import metrics_for
from dltrain.train.profiler import open_profiler
from dltrain.train.run import Run, set_up
from dltrain.train.run_files import write_json
from dltrain.train.signals import StopRequest
from dltrain.train.state import Best, TrainState
from dltrain.train.visuals import write_visuals

log = logging.getLogger("dltrain")

EpochHook = Callable[[Mapping[str, Any], str], None]


def fit(
    cfg: Mapping[str, Any] | RunConfig, run_dir: Path, on_epoch_end: EpochHook | None = None
) -> dict[str, float]:
    """Train as the config (the frozen plain dict, or a ``RunConfig``) says, keep best/last
    checkpoints, test the best weights.

    ``on_epoch_end(record, monitor)`` runs on the main rank after each epoch's checkpoint, so a
    sweep can report the epoch's metrics and stop the job (an exception) with nothing lost.
    """
    config = cfg if isinstance(cfg, RunConfig) else run_config(dict(cfg))
    run = set_up(config, run_dir)
    try:
        state = start_state(run)
        log_setup(run, state)
        train_epochs(run, state, on_epoch_end)
        return evaluate_best(run, state)
    finally:  # after the loggers' finish(results), or the error that ends the run
        run.writer.close()


def start_state(run: Run) -> TrainState:
    """A fresh state, or the one the resumed checkpoint holds (its RNGs restored too)."""
    run.saver.clear_leftovers(run.source)
    state = TrainState(metrics_for(run.task, run.device, run.cfg.metrics))
    run.callbacks.on_fit_start(run, state)  # before a resume restores their state
    if run.source is not None:
        restored = run.saver.restore(run.source, run.device)
        state.resume(restored.progress, restored.best, restored.train_sums, restored.train_extras)
        progress = state.progress
        log.info(
            f"resumed from {run.source} at epoch {progress.epoch}, batch {progress.batch} "
            f"(step {progress.step})"
        )
    return state


def log_setup(run: Run, state: TrainState) -> None:
    cfg, ctx, data = run.cfg, run.ctx, run.data
    params = sum(p.numel() for p in run.model.parameters())
    batch = cfg.data["batch_size"]
    val, test = (len(split) if split else 0 for split in (data.val, data.test))
    log.info(
        f"model {cfg.model['name']} ({params:,} parameters) on {run.device}, precision "
        f"{run.step.precision.name}, seed {cfg.seed}; data {cfg.data['name']}: "
        f"{len(data.train)} train / {val} val / {test} test; "
        f"batch {batch} x {ctx.world_size} process(es) = {batch * ctx.world_size} global, "
        f"{run.steps_per_epoch} steps per epoch"
    )
    log.info(f"{run.task} task: best.pt keeps the {run.mode} {run.monitor} (checkpoint.monitor)")


# -- train epochs ---------------------------------------------------------------------------


def train_epochs(run: Run, state: TrainState, on_epoch_end: EpochHook | None) -> None:
    """Train, validate, log and checkpoint each epoch until the run is done."""
    epochs = EpochLoop(run, state)
    try:
        while not (state.finished(run.trainer) or run.callbacks.stop_training):
            epoch = state.progress.epoch
            started, samples_before = time.perf_counter(), state.progress.samples
            record = epochs.train_epoch()
            run.callbacks.on_train_epoch_end(run, state, record)
            validate(run, state, record, epoch)
            _add_epoch_stats(run, state, record, started, samples_before)
            run.scheduler.after_epoch(record)
            run.writer.log_epoch(record)
            log.info(_epoch_line(record, run.trainer.max_epochs))
            epochs.stop_if_nothing_learned(record)
            run.callbacks.on_epoch_end(run, state, record)  # early stopping may end the run
            save_epoch(run, state, record, epoch)
            epochs.stop_if_requested()
            if on_epoch_end is not None and run.ctx.is_main:
                on_epoch_end(record, run.monitor)
    finally:
        epochs.close()


class EpochLoop:
    """The training side of the epochs: the bar, step logging, step checkpoints, stop requests.

    ``after_step`` and ``stop_if_requested`` are its methods, so what they read (the run, its
    state, this epoch's bar) is named on ``self`` rather than captured from an enclosing scope.
    """

    def __init__(self, run: Run, state: TrainState) -> None:
        self.run, self.state, self.bar = run, state, None
        optimizer, progress = run.step.optimizer, state.progress
        self.log_every = run.cfg.logging.every_n_steps
        self.save_every = run.cfg.checkpoint.every_n_steps
        grad_norm = GradNorm(optimizer, due=self._logs_next_step)
        self.clock = RunClock(run_steps(run.steps_per_epoch, vars(run.trainer)), progress.step)
        shown = run.cfg.logging.progress
        self.report = StepReport(
            run.writer, optimizer, grad_norm, self.clock, run.ctx, shown, progress.samples,
            extra=lambda: logged_values(run),
        )  # fmt: skip
        self.first_step = progress.step + 1
        self.epoch_steps = self.epoch_skipped = 0  # of the last trained epoch (this process)
        self.stop = StopRequest().install()
        self.profiler = open_profiler(run.cfg.profiler, run.run_dir, run.ctx.is_main, run.device)

    def _logs_next_step(self) -> bool:
        return (self.state.progress.step + 1) % self.log_every == 0

    def train_epoch(self) -> dict[str, Any]:
        """Train the epoch in progress (from its saved batch); its record of train metrics."""
        run, state = self.run, self.state
        epoch, progress = state.progress.epoch, state.progress
        loader, trainer = run.loaders.train, run.trainer
        loader.sampler.set_epoch(epoch, start=progress.batch * run.cfg.data["batch_size"])
        shown, main = run.cfg.logging.progress, run.ctx.is_main
        self.bar = progress_bar(loader, progress, trainer.max_epochs, shown, main)
        steps_before, skipped_before = progress.step, progress.skipped
        with anomaly_detection(trainer.detect_anomaly):
            train_one_epoch(run.step, self.bar, state, self.after_step)
        self.epoch_steps = progress.step - steps_before
        self.epoch_skipped = progress.skipped - skipped_before
        self._close_bar()
        state.train_metrics.all_reduce()
        if state.train_metrics.has_nonfinite():
            raise _nonfinite(f"in epoch {epoch}", run.saver)
        record: dict[str, Any] = {"epoch": epoch, "step": progress.step}
        record.update({f"train/{k}": v for k, v in state.train_metrics.compute().items()})
        state.next_epoch(metrics_for(run.task, run.device, run.cfg.metrics))
        return record

    def after_step(self, loss: torch.Tensor) -> bool:
        """After each optimizer step: schedule, log, checkpoint, stop; True ends the epoch."""
        run, state = self.run, self.state
        step = state.progress.step
        run.scheduler.after_optimizer_step()
        self.profiler.step()
        run.callbacks.on_optimizer_step(run, state)
        if step == self.first_step:
            seconds = time.perf_counter() - self.clock.started
            warm = " (includes torch.compile's warm-up)" if run.trainer.compile else ""
            log.info(f"first optimizer step after {seconds:.2f}s{warm}")
        if step % self.log_every == 0:
            self._stop_if_nonfinite()
            self.report(state.progress, loss, self.bar, run.trainer.max_epochs)
        if self.save_every and step % self.save_every == 0:
            self._stop_if_nonfinite()
            run.saver.save(state, ("last.pt",), keep_step=True)
        self.stop_if_requested()
        return state.steps_done(run.trainer)

    def _stop_if_nonfinite(self) -> None:
        run, state = self.run, self.state
        if any_rank(state.train_metrics.has_nonfinite(), run.ctx, run.device):
            raise _nonfinite(f"by step {state.progress.step}", run.saver)

    def stop_if_nothing_learned(self, record: Mapping[str, Any]) -> None:
        """trainer.on_nan=skip: an epoch whose every step was skipped (or whose every loss was
        NaN) fails the run after it is logged, so the run does not go on training nothing."""
        all_skipped = self.epoch_steps > 0 and self.epoch_skipped == self.epoch_steps
        if not (all_skipped or math.isnan(record["train/loss"])):
            return
        raise RunError(
            f"trainer.on_nan=skip skipped {self.epoch_skipped} of the {self.epoch_steps} "
            f"optimizer steps of epoch {record['epoch']} (train/loss {record['train/loss']}): "
            "the loss or the gradients were NaN or infinite at every step, so the run learns "
            f"nothing. {_NAN_FIXES} {_last_good(self.run.saver)}"
        )

    def stop_if_requested(self) -> None:
        """On SIGTERM/SIGINT (any rank): save last.pt and exit as Interrupted."""
        run, state = self.run, self.state
        if not any_rank(self.stop.requested, run.ctx, run.device):
            return
        run.saver.save(state, ("last.pt",))
        signum = self.stop.signum or signal.SIGTERM
        raise Interrupted(
            signum,
            f"stopped by {signal.Signals(signum).name} at step "
            f"{state.progress.step}; {run.saver.last} holds the run: the same "
            "command resumes it.",
        )

    def _close_bar(self) -> None:
        if hasattr(self.bar, "close"):
            self.bar.close()

    def close(self) -> None:
        self.stop.uninstall()
        self._close_bar()  # an error message must not land on the bar's line
        self.profiler.close()


def validate(run: Run, state: TrainState, record: dict[str, Any], epoch: int) -> None:
    """Every trainer.val_every epochs and after the last: the val metrics into ``record``."""
    if run.loaders.val is None:
        return
    if epoch % run.trainer.val_every == 0 or state.finished(run.trainer):
        scores = run.evaluate(run.loaders.val)
        record.update({f"val/{k}": v for k, v in scores.items()})
        run.callbacks.on_validation_end(run, state, record)  # e.g. val_ema/*


def _add_epoch_stats(
    run: Run, state: TrainState, record: dict[str, Any], started: float, samples_before: int
) -> None:
    seconds = time.perf_counter() - started
    record["lr"] = run.step.optimizer.param_groups[0]["lr"]
    record.update(logged_values(run))
    samples = state.progress.samples - samples_before
    record["images_per_sec"] = samples * run.ctx.world_size / seconds
    record["epoch_seconds"] = seconds
    if state.progress.skipped:
        record["skipped_steps"] = state.progress.skipped


def logged_values(run: Run) -> dict[str, Any]:
    """Values every step event and epoch record carry besides ``lr`` (group 0's rate): each
    parameter group's rate, ``lr/group<N>``, when there are several (host numbers, no device
    sync), and the callbacks' values (``lr_monitor`` adds the rates for one group too)."""
    optimizer = run.step.optimizer
    rates = group_rates(optimizer) if len(optimizer.param_groups) > 1 else {}
    return {**rates, **run.callbacks.log_values()}


def save_epoch(run: Run, state: TrainState, record: Mapping[str, Any], epoch: int) -> None:
    """last.pt, and best.pt too when the monitored metric improved."""
    names: tuple[str, ...] = ("last.pt",)
    if run.monitor in record and state.best.improved(record[run.monitor], run.mode):
        state.best = Best(score=record[run.monitor], epoch=epoch)
        names = ("best.pt", "last.pt")
    run.saver.save(state, names)


# -- test the best weights ------------------------------------------------------------------


def evaluate_best(run: Run, state: TrainState) -> dict[str, Any]:
    """Load best.pt, evaluate val and test with it, write results.json (and the visuals)."""
    ctx, progress, best = run.ctx, state.progress, state.best
    barrier(ctx)  # best.pt is complete before any rank reads it
    results: dict[str, Any] = {
        "epoch": progress.epoch - 1,
        "step": progress.step,
        "monitor": run.monitor,
        "best_epoch": best.epoch,
        "best_score": best.score,
    }
    best_path = run.run_dir / "checkpoints" / "best.pt"
    # Scored: this run (or the one it resumes) saved best.pt; rank 0 reads it for every rank.
    best_state = run.saver.read(best_path, run.device) if best.scored else None
    if best_state is not None:
        run.saver.load_weights(best_state["model"], str(best_path))
    for split, loader in (("val", run.loaders.val), ("test", run.loaders.test)):
        if loader is not None:
            for key, value in run.evaluate(loader, matrices=True).items():
                if isinstance(value, list):  # a matrix: results["confusion_matrix"]["test"]
                    results.setdefault(key, {})[split] = value
                else:
                    results[f"{split}/{key}"] = value
    run.callbacks.on_fit_end(run, state, results)  # e.g. stopped_early_at_epoch
    if ctx.is_main and run.keeps_files:
        write_json(run.run_dir / "results.json", results)
    summary = "  ".join(
        f"{k} {v:.4f}" for k, v in results.items() if k.startswith("test/") and _shown(k)
    )
    tested = f"; {summary}" if summary else " (no test split)"
    if "stopped_early_at_epoch" in results:
        tested += f"; stopped early at epoch {results['stopped_early_at_epoch']}"
    log.info(f"best {run.monitor} {best.score:.4f} at epoch {best.epoch}{tested}")
    barrier(ctx)
    if ctx.is_main and run.keeps_files:
        write_visuals(run.run_dir, to_dict(run.cfg), progress.step)
    run.writer.finish(results)  # after results.json and the plots: loggers may upload them
    return results


_NAN_FIXES = (
    "Lower optimizer.lr, set trainer.grad_clip (e.g. 1.0), or look for values that overflow "
    "(model.init, data.mean/data.std)."
)


def _nonfinite(when: str, saver: Checkpointer) -> RunError:
    return RunError(
        f"the training loss became NaN or infinite {when}. {_NAN_FIXES} (trainer.on_nan=skip "
        f"skips such steps instead.) {_last_good(saver)}"
    )


def _last_good(saver: Checkpointer) -> str:
    """Where a failed run can go back to: the checkpoint that exists, or that none does."""
    if saver.newest is None:
        return (
            "No checkpoint was written yet (the first is saved at the end of epoch 1, or every "
            "checkpoint.every_n_steps steps): start the run again."
        )
    path, step = saver.newest
    return (
        f"The last good checkpoint is {path} (step {step}): start a new run from its weights "
        f"with model.weights={path} and a new hydra.run.dir."
    )


def _shown(key: str) -> bool:
    """Per-class values (``val/accuracy_class_3``) stay out of the console line: they are in
    metrics.jsonl, the loggers and results.json."""
    return "_class_" not in key


def _epoch_line(record: Mapping[str, Any], max_epochs: int) -> str:
    parts = [f"epoch {record['epoch']}/{max_epochs}"]
    for key, value in record.items():
        if key.startswith(("train/", "val/", "val_")) and _shown(key):  # val_ema/*, val_swa/*
            parts.append(f"{key} {value:.4f}")
    parts.append(f"lr {record['lr']:.2e}")
    parts += [f"{key} {value:.2e}" for key, value in record.items() if key.startswith("lr/")]
    parts.append(f"{record['images_per_sec']:.0f} img/s")
    parts.append(f"{record['epoch_seconds']:.1f}s")
    return "  ".join(parts)
