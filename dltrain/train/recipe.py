"""Fit from a frozen config: build every component, train, checkpoint, test the best weights.

Read ``fit`` top to bottom: set up the run, train its epochs (each one validated), test the
best weights. It is the whole training run, one process or one DDP rank. The built pieces are
one ``Run``; what moves as it trains, and so what a checkpoint saves, is one ``TrainState``
(state.py); the per-batch work is in loop.py.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from dltrain.components.build import (
    build_data,
    build_loss,
    build_model,
    build_optimizer,
    build_scheduler,
    model_task,
)
from dltrain.config.schema import RunConfig, run_config, to_dict
from dltrain.data.loaders import build_loader, loader_kind
from dltrain.distributed.context import (
    DistContext,
    any_rank,
    barrier,
    context_from_env,
    cpu_threads,
    init_process_group,
    under_torchrun,
)
from dltrain.distributed.device import resolve_device
from dltrain.errors import Interrupted, RunError, UserError
from dltrain.loggers.writer import open_writer
from dltrain.registry import import_user_modules
from dltrain.train import checkpoint
from dltrain.train.checkpointer import Checkpointer
from dltrain.train.console import RunClock, StepReport, progress_bar, run_steps
from dltrain.train.grad_norm import GradNorm
from dltrain.train.loop import StepConfig, StepParts, evaluate, train_one_epoch
from dltrain.train.metrics import metrics_for, resolve_monitor
from dltrain.train.precision import Precision
from dltrain.train.run_files import MetricsFile, setup_logging, write_json
from dltrain.train.seeding import seed_everything, set_deterministic
from dltrain.train.signals import StopRequest
from dltrain.train.state import Best, TrainState
from dltrain.train.visuals import write_visuals

log = logging.getLogger("dltrain")

EpochHook = Callable[[Mapping[str, Any], str], None]


@dataclass
class Loaders:
    train: Any
    val: Any | None
    test: Any | None


@dataclass
class Run:
    """The built pieces of one training run (this process; one rank under DDP)."""

    cfg: RunConfig
    run_dir: Path
    ctx: DistContext
    device: torch.device
    task: str
    data: Any  # the data set's splits
    loaders: Loaders
    model: torch.nn.Module  # the plain model: checkpoints save it, validation and test run it
    step: StepParts  # what a training step uses, the DDP/compiled model among them
    scheduler: Any  # an LRStepper
    steps_per_epoch: int
    monitor: str  # checkpoint.monitor resolved: best.pt keeps its best value
    mode: str
    source: Path | None  # the checkpoint this run resumes from
    saver: Checkpointer
    writer: Any

    @property
    def trainer(self) -> Any:
        return self.cfg.trainer


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
    state = start_state(run)
    log_setup(run, state)
    train_epochs(run, state, on_epoch_end)
    return evaluate_best(run, state)


# -- set up ---------------------------------------------------------------------------------


def set_up(cfg: RunConfig, run_dir: Path) -> Run:
    """Build everything the run needs; configuration mistakes are exit 2 before any epoch."""
    ctx, device = _start_process(cfg, run_dir)
    task = model_task(cfg.model)
    data = build_data(cfg.data, task)
    loaders = _build_loaders(cfg, data, device, ctx)
    source = _resume_source(cfg.resume, run_dir / "checkpoints" / "last.pt")
    # Resuming: the checkpoint holds the weights, so model.weights is not loaded again.
    model, step = _build_training(cfg, task, device, ctx, load_weights=source is None)
    seed_everything(cfg.seed + ctx.rank)  # a different dropout/augmentation stream per rank
    steps_per_epoch = math.ceil(len(loaders.train) / cfg.trainer.grad_accum)
    trainer = cfg.trainer
    scheduler = build_scheduler(
        cfg.scheduler, step.optimizer, steps_per_epoch, trainer.max_epochs, trainer.max_steps
    )
    monitor, mode = resolve_monitor(cfg.checkpoint.monitor, cfg.checkpoint.mode, task)
    _check_validation_needs(monitor, scheduler, loaders.val)
    metrics_file = MetricsFile(run_dir / "metrics.jsonl")
    parts = {
        "model": model,
        "optimizer": step.optimizer,
        "scheduler": scheduler,
        "scaler": step.precision.scaler,
    }
    ckpt_dir, keep_last = run_dir / "checkpoints", cfg.checkpoint.keep_last
    saver = Checkpointer(ckpt_dir, ctx, parts, metrics_file, to_dict(cfg), keep_last)
    writer = open_writer(cfg.logger, run_dir, metrics_file, ctx.is_main)
    return Run(
        cfg=cfg, run_dir=run_dir, ctx=ctx, device=device, task=task, data=data,
        loaders=loaders, model=model, step=step, scheduler=scheduler,
        steps_per_epoch=steps_per_epoch, monitor=monitor, mode=mode, source=source,
        saver=saver, writer=writer,
    )  # fmt: skip


def _start_process(cfg: RunConfig, run_dir: Path) -> tuple[DistContext, torch.device]:
    """This process: its rank and device, logging, user modules, determinism, the seed."""
    ctx = context_from_env()
    device = resolve_device(cfg.device, ctx)
    if under_torchrun():
        ctx = init_process_group(cfg.distributed.backend, device.type)
        if device.type == "cpu":
            torch.set_num_threads(cpu_threads(ctx, cfg.distributed.threads_per_process))
    setup_logging(run_dir, ctx.rank)
    import_user_modules(cfg.imports)
    set_deterministic(cfg.deterministic)
    seed_everything(cfg.seed)  # the same initial weights on every rank
    return ctx, device


def _build_loaders(cfg: RunConfig, data: Any, device: torch.device, ctx: DistContext) -> Loaders:
    kind, on_device = loader_kind(data.train, cfg.data), {}

    def loader(dataset: Any, train: bool) -> Any:
        return build_loader(dataset, cfg.data, train, cfg.seed, device, ctx, kind, on_device)

    val = loader(data.val, False) if data.val else None
    test = loader(data.test, False) if data.test else None
    loaders = Loaders(loader(data.train, True), val, test)
    if len(loaders.train) == 0:
        raise UserError("the training split is empty: lower data.batch_size or data.val_split.")
    return loaders


def _build_training(
    cfg: RunConfig, task: str, device: torch.device, ctx: DistContext, load_weights: bool
) -> tuple[torch.nn.Module, StepParts]:
    """The model (plain, for checkpoints) and what a training step uses (DDP/compiled)."""
    trainer = cfg.trainer
    model = build_model(cfg.model, load_weights=load_weights).to(device)
    loss_fn = build_loss(cfg.loss, task).to(device)
    # LBFGS flattens gradients with .view(), which NHWC gradients do not allow.
    channels_last = _channels_last(trainer.channels_last, model) and (
        cfg.optimizer["name"] != "lbfgs"
    )
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(
        _fused_on_cuda(cfg.optimizer, device),
        model,
        grad_accum=trainer.grad_accum,
        grad_clip=trainer.grad_clip,
        precision=cfg.precision.name,
    )
    train_model: torch.nn.Module = model
    if ctx.enabled:
        if cfg.distributed.sync_bn:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        device_ids = [device.index] if device.type == "cuda" else None
        train_model = DistributedDataParallel(model, device_ids=device_ids)
    if trainer.compile:
        train_model = torch.compile(train_model)  # checkpoints keep saving the plain `model`
    precision = Precision(cfg.precision.name, device, cfg.precision.tf32)
    settings = StepConfig(
        grad_accum=trainer.grad_accum,
        grad_clip=trainer.grad_clip,
        skip_nonfinite=trainer.on_nan == "skip",
        channels_last=channels_last,
    )
    return model, StepParts(train_model, loss_fn, optimizer, precision, device, settings)


def _check_validation_needs(monitor: str, scheduler: Any, val_loader: Any) -> None:
    """A metric of the validation split needs one: say so now, not after an epoch (or never)."""
    if val_loader is not None:
        return
    if monitor.startswith("val/"):
        raise UserError(
            f"checkpoint.monitor={monitor} but there is no validation split: "
            "set data.val_split > 0 or checkpoint.monitor=train/loss."
        )
    stepped_on = getattr(scheduler, "monitor", None)
    if stepped_on is not None and stepped_on.startswith("val/"):
        raise UserError(
            f"the scheduler steps on scheduler.monitor={stepped_on} but there is no validation "
            "split, so it would never step: set data.val_split > 0 or scheduler.monitor=train/loss."
        )


def _channels_last(setting: str, model: torch.nn.Module) -> bool:
    """NHWC for conv nets (auto): faster convolutions on CPUs with oneDNN and on tensor cores."""
    if str(setting).lower() == "auto":
        return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    return str(setting).lower() == "true"


def _fused_on_cuda(section: Mapping[str, Any], device: torch.device) -> Mapping[str, Any]:
    """On CUDA, an optimizer whose ``fused`` is left null uses its fused kernel."""
    if device.type == "cuda" and "fused" in section and section["fused"] is None:
        return {**section, "fused": True}
    return section


def _resume_source(resume: str, last: Path) -> Path | None:
    """The checkpoint to continue from: the folder's last.pt (auto) or a given file."""
    if resume == "auto":
        return last if last.is_file() else None
    if resume == "never":
        return None
    return Path(resume).expanduser()


def start_state(run: Run) -> TrainState:
    """A fresh state, or the one the resumed checkpoint holds (its RNGs restored too)."""
    state = TrainState(metrics_for(run.task, run.device))
    if run.source is not None:
        restored = run.saver.restore(run.source, run.device)
        state.resume(restored.progress, restored.best, restored.train_sums)
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
    log.info(
        f"model {cfg.model['name']} ({params:,} parameters) on {run.device}, precision "
        f"{run.step.precision.name}; data {cfg.data['name']}: {len(data.train)} train / "
        f"{len(data.val) if data.val else 0} val / {len(data.test) if data.test else 0} test; "
        f"batch {batch} x {ctx.world_size} process(es) = {batch * ctx.world_size} global, "
        f"{run.steps_per_epoch} steps per epoch"
    )
    log.info(f"{run.task} task: best.pt keeps the {run.mode} {run.monitor} (checkpoint.monitor)")


# -- train epochs ---------------------------------------------------------------------------


def train_epochs(run: Run, state: TrainState, on_epoch_end: EpochHook | None) -> None:
    """Train, validate, log and checkpoint each epoch until the run is done."""
    epochs = EpochLoop(run, state)
    try:
        while not state.finished(run.trainer):
            epoch = state.progress.epoch
            started, samples_before = time.perf_counter(), state.progress.samples
            record = epochs.train_epoch()
            validate(run, state, record, epoch)
            _add_epoch_stats(run, state, record, started, samples_before)
            run.scheduler.after_epoch(record)
            run.writer.log_epoch(record)
            log.info(_epoch_line(record, run.trainer.max_epochs))
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
            run.writer, optimizer, grad_norm, self.clock, run.ctx, shown, progress.samples
        )
        self.first_step = progress.step + 1
        self.stop = StopRequest().install()

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
        train_one_epoch(run.step, self.bar, state, self.after_step)
        self._close_bar()
        state.train_metrics.all_reduce()
        if state.train_metrics.has_nonfinite():
            raise _nonfinite(f"in epoch {epoch}", run.saver.last)
        record: dict[str, Any] = {"epoch": epoch, "step": progress.step}
        record.update({f"train/{k}": v for k, v in state.train_metrics.compute().items()})
        state.next_epoch(metrics_for(run.task, run.device))
        return record

    def after_step(self, loss: torch.Tensor) -> bool:
        """After each optimizer step: schedule, log, checkpoint, stop; True ends the epoch."""
        run, state = self.run, self.state
        step = state.progress.step
        run.scheduler.after_optimizer_step()
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
            raise _nonfinite(f"by step {state.progress.step}", run.saver.last)

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
        self.run.writer.close()
        self._close_bar()  # an error message must not land on the bar's line


def validate(run: Run, state: TrainState, record: dict[str, Any], epoch: int) -> None:
    """Every trainer.val_every epochs and after the last: the val metrics into ``record``."""
    if run.loaders.val is None:
        return
    if epoch % run.trainer.val_every == 0 or state.finished(run.trainer):
        scores = _evaluate(run, run.loaders.val)
        record.update({f"val/{k}": v for k, v in scores.items()})


def _add_epoch_stats(
    run: Run, state: TrainState, record: dict[str, Any], started: float, samples_before: int
) -> None:
    seconds = time.perf_counter() - started
    record["lr"] = run.step.optimizer.param_groups[0]["lr"]
    samples = state.progress.samples - samples_before
    record["images_per_sec"] = samples * run.ctx.world_size / seconds
    record["epoch_seconds"] = seconds
    if state.progress.skipped:
        record["skipped_steps"] = state.progress.skipped


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
    if best_path.is_file():
        best_state = checkpoint.load(best_path, run.device)
        checkpoint.load_model_weights(run.model, best_state["model"], str(best_path))
    for split, loader in (("val", run.loaders.val), ("test", run.loaders.test)):
        if loader is not None:
            results.update({f"{split}/{k}": v for k, v in _evaluate(run, loader).items()})
    if ctx.is_main:
        write_json(run.run_dir / "results.json", results)
    summary = "  ".join(f"{k} {v:.4f}" for k, v in results.items() if k.startswith("test/"))
    tested = f"; {summary}" if summary else " (no test split)"
    log.info(f"best {run.monitor} {best.score:.4f} at epoch {best.epoch}{tested}")
    barrier(ctx)
    if ctx.is_main:
        write_visuals(run.run_dir, to_dict(run.cfg), progress.step)
    return results


def _evaluate(run: Run, loader: Any) -> dict[str, float]:
    """The plain model's metrics over a split (DDP shards it and reduces the sums)."""
    step = run.step
    return evaluate(
        run.model, loader, step.loss_fn, step.precision, run.device, run.task,
        step.settings.channels_last,
    )  # fmt: skip


def _nonfinite(when: str, last: Path) -> RunError:
    return RunError(
        f"the training loss became NaN or infinite {when}; the last good checkpoint is {last}."
    )


def _epoch_line(record: Mapping[str, Any], max_epochs: int) -> str:
    parts = [f"epoch {record['epoch']}/{max_epochs}"]
    for key, value in record.items():
        if key.startswith(("train/", "val/")):
            parts.append(f"{key} {value:.4f}")
    parts.append(f"lr {record['lr']:.2e}")
    parts.append(f"{record['images_per_sec']:.0f} img/s")
    parts.append(f"{record['epoch_seconds']:.1f}s")
    return "  ".join(parts)
