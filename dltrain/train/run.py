"""The built pieces of a training run (``Run``) and building them (``set_up``).

Everything here happens before the first epoch, so a configuration mistake found here is exit 2
with nothing trained: among them a metric of the validation split (checkpoint.monitor, a plateau
scheduler's monitor) asked for when there is no validation split.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from dltrain.callbacks.callback_list import CallbackList, build_callbacks
from dltrain.components.losses import build_loss
from dltrain.components.optimizers import build_optimizer
from dltrain.components.schedulers import build_scheduler
from dltrain.config.schema import RunConfig, TrainerConfig, to_dict
from dltrain.data.build import build_data
from dltrain.data.loaders import build_loader, loader_kind
from dltrain.data.transform_names import mixing_specs
from dltrain.distributed.context import (
    DistContext,
    context_from_env,
    cpu_threads,
    init_process_group,
    under_torchrun,
)
from dltrain.distributed.device import resolve_device
from dltrain.distributed.fsdp import gathered, shard_model
from dltrain.distributed.rank0_files import rank0_is_file
from dltrain.errors import UserError
from dltrain.loggers.base import LoggerRun
from dltrain.loggers.writer import open_writer
from dltrain.models.batchnorm import convert_sync_batchnorm
from dltrain.models.build import build_model, model_task
from dltrain.registry import import_user_modules
from dltrain.train.activation_checkpointing import checkpoint_activations
from dltrain.train.checkpointer import Checkpointer
from dltrain.train.limits import batch_limits, fast_dev_run_trainer, limit_loader
from dltrain.train.loop import StepConfig, StepParts, evaluate
from dltrain.train.monitor import resolve_monitor
from dltrain.train.precision import Precision, warn_if_slow
from dltrain.train.run_files import MetricsFile, setup_logging
from dltrain.train.seeding import seed_everything, set_deterministic
from dltrain.train.sharded_checkpointer import ShardedCheckpointer, newest_sharded

log = logging.getLogger("dltrain")


@dataclass
class Loaders:
    """The splits' batches; val and test are None when the data set has no such split."""

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
    monitor: str  # checkpoint.monitor resolved (val_ema/... when ema keeps best.pt's weights)
    mode: str
    source: Path | None  # the checkpoint this run resumes from
    saver: Checkpointer
    writer: Any
    callbacks: CallbackList  # callbacks=[...], called by the recipe at fixed points

    @property
    def trainer(self) -> TrainerConfig:
        return self.cfg.trainer

    def evaluate(
        self, loader: Any, model: torch.nn.Module | None = None, matrices: bool = False
    ) -> dict[str, Any]:
        """The metrics of ``model`` (the plain model; a callback's averaged one) over a split,
        the extras of ``metrics=[...]`` among them (``matrices``: their matrices too); DDP
        shards the split and reduces the sums."""
        step, model = self.step, model if model is not None else self.model
        with gathered(model, self.cfg.distributed.fsdp.reshard_after_forward):  # fsdp only
            return evaluate(
                model, loader, step.loss_fn, step.precision, self.device, self.task,
                step.settings.channels_last, self.cfg.metrics, matrices,
            )  # fmt: skip

    @property
    def keeps_files(self) -> bool:
        """Whether the run keeps checkpoints, metrics, results and plots (not a fast_dev_run)."""
        return self.cfg.trainer.fast_dev_run == 0


def set_up(cfg: RunConfig, run_dir: Path) -> Run:
    """Build everything the run needs; configuration mistakes are exit 2 before any epoch."""
    cfg = replace(cfg, trainer=fast_dev_run_trainer(cfg.trainer))
    ctx, device = _start_process(cfg, run_dir)
    task = model_task(cfg.model)
    data = build_data(cfg.data, task)
    loaders = _build_loaders(cfg, data, device, ctx)
    keeps_files = cfg.trainer.fast_dev_run == 0  # fast_dev_run: never resumes, keeps nothing
    sharded = cfg.distributed.name == "fsdp"
    ckpt_dir = run_dir / "checkpoints"
    source = _resume_source(cfg.resume, ckpt_dir, sharded, ctx) if keeps_files else None
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
    has_val, max_epochs = loaders.val is not None, trainer.max_epochs
    callbacks = build_callbacks(
        cfg.callbacks, monitor, mode, task, has_val, max_epochs,
        cfg.metrics, cfg.data.get("num_classes"),
    )  # fmt: skip
    monitor = callbacks.monitor  # best.pt may be decided on a callback's weights (val_ema/...)
    metrics_file = MetricsFile(run_dir / "metrics.jsonl")
    parts = {
        "model": model,
        "optimizer": step.optimizer,
        "scheduler": scheduler,
        "scaler": step.precision.scaler,
        "callbacks": callbacks,
    }
    keep_last = cfg.checkpoint.keep_last
    saver = (ShardedCheckpointer if sharded else Checkpointer)(
        ckpt_dir, ctx, parts, metrics_file, to_dict(cfg), keep_last,
        writes=keeps_files, best_weights=callbacks.best_weights,
    )  # fmt: skip
    logged = LoggerRun(run_dir, to_dict(cfg), resumed=source is not None)
    writer = open_writer(cfg.logger, logged, metrics_file, ctx.is_main and keeps_files)
    return Run(
        cfg=cfg, run_dir=run_dir, ctx=ctx, device=device, task=task, data=data,
        loaders=loaders, model=model, step=step, scheduler=scheduler,
        steps_per_epoch=steps_per_epoch, monitor=monitor, mode=mode, source=source,
        saver=saver, writer=writer, callbacks=callbacks,
    )  # fmt: skip


def _start_process(cfg: RunConfig, run_dir: Path) -> tuple[DistContext, torch.device]:
    """This process: its rank and device, logging, user modules, determinism, the seed."""
    if cfg.seed is None:
        raise UserError(
            "seed=null reached the run unchosen: the seed is chosen where config.yaml is "
            "written (dltrain.config.freeze.freeze). Freeze the config first, or set seed=N."
        )
    ctx = context_from_env()
    device = resolve_device(cfg.device, ctx)
    if under_torchrun():
        ctx = init_process_group(cfg.distributed.backend, device.type, cfg.distributed.timeout)
        if device.type == "cpu":
            torch.set_num_threads(cpu_threads(ctx, cfg.distributed.threads_per_process))
    setup_logging(run_dir, ctx.rank)
    import_user_modules(cfg.imports)
    set_deterministic(cfg.deterministic)
    seed_everything(cfg.seed)  # the same initial weights on every rank
    _log_debug_settings(cfg.trainer)
    return ctx, device


def _log_debug_settings(trainer: TrainerConfig) -> None:
    """What trainer.detect_anomaly (train/anomaly.py) costs, what a fast_dev_run keeps."""
    if trainer.detect_anomaly:
        log.info(
            "trainer.detect_anomaly: autograd anomaly detection is on (slow): a backward that "
            "makes NaN fails the run naming the operator and where the forward pass ran it"
        )
    if trainer.fast_dev_run:
        log.info(
            f"trainer.fast_dev_run={trainer.fast_dev_run}: {trainer.fast_dev_run} batch(es) of "
            "train, val and test, one epoch; no checkpoints, metrics.jsonl, results.json, "
            "logger files or plots are kept (only config.yaml and train.log)"
        )


def _build_loaders(cfg: RunConfig, data: Any, device: torch.device, ctx: DistContext) -> Loaders:
    """The splits' loaders, each cut to its trainer.limit_*_batches (train/limits.py);
    overfit_batches validates on the training batches."""
    kind, on_device = loader_kind(data.train, cfg.data), {}
    limits = batch_limits(cfg.trainer)

    def loader(dataset: Any, train: bool, limit: int | float) -> Any:
        shuffle = train and not limits.overfit
        built = build_loader(
            dataset, cfg.data, train, cfg.seed, device, ctx, kind, on_device, shuffle=shuffle
        )
        limit_loader(built, limit, cfg.data["batch_size"])
        return built

    val_split = data.train if limits.overfit else data.val
    val = loader(val_split, False, limits.val) if val_split else None
    test = loader(data.test, False, limits.test) if data.test else None
    loaders = Loaders(loader(data.train, True, limits.train), val, test)
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
    _shrink_memory(cfg, model, ctx)
    optimizer = build_optimizer(
        _fused_on_cuda(cfg.optimizer, device),
        model,
        grad_accum=trainer.grad_accum,
        grad_clip=trainer.grad_clip,
        precision=cfg.precision.name,
    )
    train_model: torch.nn.Module = model
    if ctx.enabled and cfg.distributed.name != "fsdp":  # fsdp: sharded in place already
        if cfg.distributed.sync_bn:
            model = convert_sync_batchnorm(model)  # frozen BatchNorm stays frozen
        device_ids = [device.index] if device.type == "cuda" else None
        train_model = DistributedDataParallel(model, device_ids=device_ids)
    if trainer.compile:
        train_model = torch.compile(train_model)  # checkpoints keep saving the plain `model`
    precision = Precision(cfg.precision.name, device, cfg.precision.tf32)
    if ctx.is_main:
        warn_if_slow(cfg.precision.name, device)
    settings = StepConfig(
        grad_accum=trainer.grad_accum,
        grad_clip=trainer.grad_clip,
        skip_nonfinite=trainer.on_nan == "skip",
        channels_last=channels_last,
        soft_targets=bool(mixing_specs(cfg.data.get("train_transforms"))),
    )
    return model, StepParts(train_model, loss_fn, optimizer, precision, device, settings)


def _shrink_memory(cfg: RunConfig, model: torch.nn.Module, ctx: DistContext) -> None:
    """trainer.activation_checkpointing, then distributed=fsdp's sharding (in place, before
    the optimizer sees the parameters: FSDP replaces them with sharded ones)."""
    count = checkpoint_activations(model, cfg.trainer.activation_checkpointing)
    if count and ctx.is_main:
        names = ", ".join(cfg.trainer.activation_checkpointing)
        log.info(f"activation checkpointing: {count} module(s) of type {names} recompute")
    if cfg.distributed.name == "fsdp":
        units = shard_model(model, cfg.distributed.fsdp, cfg.precision.name)
        if ctx.is_main:
            blocks = ", ".join(units) if units else "no blocks: the root alone"
            log.info(f"distributed=fsdp: fully_shard per block ({blocks}), then the root")


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


def _resume_source(resume: str, ckpt_dir: Path, sharded: bool, ctx: DistContext) -> Path | None:
    """The checkpoint to continue from: the folder's last.pt (rank 0 decides for every rank:
    the run folder may be on its node only), or last.dcp under distributed=fsdp (every rank
    reads its shards: a shared folder), or a given file or sharded folder."""
    if resume == "auto":
        if sharded:
            return newest_sharded(ckpt_dir)
        last = ckpt_dir / "last.pt"
        return last if rank0_is_file(last, ctx) else None
    if resume == "never":
        return None
    return Path(resume).expanduser()
