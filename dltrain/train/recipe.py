"""Fit from a frozen config: build every component, train, checkpoint, test the best weights.

Read ``fit`` top to bottom: it is the whole training run, one process or one DDP rank. The
per-batch work is in loop.py; what a checkpoint holds is in ``TrainState``.
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

from dltrain.components.losses import build_loss
from dltrain.components.optimizers import build_optimizer
from dltrain.components.schedulers import build_scheduler
from dltrain.data.build import build_data
from dltrain.data.loaders import build_loader, loader_kind
from dltrain.distributed.context import (
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
from dltrain.models.build import build_model, model_task
from dltrain.registry import import_user_modules
from dltrain.train import checkpoint
from dltrain.train.checkpointer import Checkpointer
from dltrain.train.console import RunClock, StepReport, progress_bar, run_steps
from dltrain.train.grad_norm import GradNorm
from dltrain.train.loop import Progress, StepConfig, evaluate, train_one_epoch
from dltrain.train.metrics import metrics_for
from dltrain.train.monitor import resolve_monitor
from dltrain.train.precision import Precision
from dltrain.train.run_files import MetricsFile, setup_logging, write_json
from dltrain.train.seeding import seed_everything, set_deterministic
from dltrain.train.signals import StopRequest
from dltrain.train.visuals import write_visuals

log = logging.getLogger("dltrain")


@dataclass
class Best:
    score: float = math.nan
    epoch: int = 0

    def improved(self, value: float, mode: str) -> bool:
        if math.isnan(self.score):
            return not math.isnan(value)
        return value > self.score if mode == "max" else value < self.score


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


EpochHook = Callable[[Mapping[str, Any], str], None]


def fit(
    cfg: Mapping[str, Any], run_dir: Path, on_epoch_end: EpochHook | None = None
) -> dict[str, float]:
    """Train as the config says, keep best/last checkpoints, test the best weights.

    ``on_epoch_end(record, monitor)`` runs on the main rank after each epoch's checkpoint, so a
    sweep can report the epoch's metrics and stop the job (an exception) with nothing lost.
    """
    ctx = context_from_env()
    device = resolve_device(cfg["device"], ctx)
    if under_torchrun():
        ctx = init_process_group(cfg["distributed"]["backend"], device.type)
        if device.type == "cpu":
            torch.set_num_threads(cpu_threads(ctx, cfg["distributed"]["threads_per_process"]))
    setup_logging(run_dir, ctx.rank)
    import_user_modules(cfg["imports"])
    set_deterministic(cfg["deterministic"])
    seed_everything(cfg["seed"])  # the same initial weights on every rank
    trainer, data_cfg, seed = cfg["trainer"], cfg["data"], cfg["seed"]

    task = model_task(cfg["model"])
    data = build_data(data_cfg, task)
    kind, on_device = loader_kind(data.train, data_cfg), {}

    def loader(dataset: Any, train: bool) -> Any:
        return build_loader(dataset, data_cfg, train, seed, device, ctx, kind, on_device)

    train_loader = loader(data.train, True)
    val_loader = data.val and loader(data.val, False)
    test_loader = data.test and loader(data.test, False)
    if len(train_loader) == 0:
        raise UserError("the training split is empty: lower data.batch_size or data.val_split.")
    ckpt_dir = run_dir / "checkpoints"
    source = _resume_source(cfg["resume"], ckpt_dir / "last.pt")
    # Resuming: the checkpoint holds the weights, so model.weights is not loaded again.
    model = build_model(cfg["model"], load_weights=source is None).to(device)
    loss_fn = build_loss(cfg["loss"], task).to(device)
    # LBFGS flattens gradients with .view(), which NHWC gradients do not allow.
    channels_last = _channels_last(trainer["channels_last"], model) and (
        cfg["optimizer"]["name"] != "lbfgs"
    )
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(
        _fused_on_cuda(cfg["optimizer"], device),
        model,
        grad_accum=trainer["grad_accum"],
        grad_clip=trainer["grad_clip"],
        precision=cfg["precision"]["name"],
    )
    train_model: torch.nn.Module = model
    if ctx.enabled:
        if cfg["distributed"]["sync_bn"]:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        device_ids = [device.index] if device.type == "cuda" else None
        train_model = DistributedDataParallel(model, device_ids=device_ids)
    if trainer["compile"]:
        train_model = torch.compile(train_model)  # checkpoints keep saving the plain `model`
    seed_everything(seed + ctx.rank)  # a different dropout/augmentation stream per rank
    batches_per_epoch = len(train_loader)
    steps_per_epoch = math.ceil(batches_per_epoch / trainer["grad_accum"])
    scheduler = build_scheduler(
        cfg["scheduler"], optimizer, steps_per_epoch, trainer["max_epochs"], trainer["max_steps"]
    )
    precision = Precision(cfg["precision"]["name"], device, cfg["precision"]["tf32"])
    monitor, mode = resolve_monitor(cfg["checkpoint"]["monitor"], cfg["checkpoint"]["mode"], task)
    metrics_file = MetricsFile(run_dir / "metrics.jsonl")
    parts = {
        "model": model,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "scaler": precision.scaler,
    }
    saver = Checkpointer(ckpt_dir, ctx, parts, metrics_file, cfg, cfg["checkpoint"]["keep_last"])
    writer = open_writer(cfg["logger"], run_dir, metrics_file, ctx.is_main)
    progress, best = Progress(), Best()
    train_metrics = metrics_for(task, device)

    if source is not None:
        restored = saver.restore(source, device)
        progress, best = Progress(**restored.progress), Best(**restored.best)
        train_metrics.sums.copy_(restored.train_sums)
        log.info(
            f"resumed from {source} at epoch {progress.epoch}, batch {progress.batch} "
            f"(step {progress.step})"
        )

    settings = StepConfig(
        grad_accum=trainer["grad_accum"],
        grad_clip=trainer["grad_clip"],
        skip_nonfinite=trainer["on_nan"] == "skip",
        channels_last=channels_last,
    )
    log_every, save_every = cfg["logging"]["every_n_steps"], cfg["checkpoint"]["every_n_steps"]
    grad_norm = GradNorm(optimizer, due=lambda: (progress.step + 1) % log_every == 0)
    params = sum(p.numel() for p in model.parameters())
    batch = data_cfg["batch_size"]
    log.info(
        f"model {cfg['model']['name']} ({params:,} parameters) on {device}, precision "
        f"{precision.name}; data {data_cfg['name']}: {len(data.train)} train / "
        f"{len(data.val) if data.val else 0} val / {len(data.test) if data.test else 0} test; "
        f"batch {batch} x {ctx.world_size} process(es) = {batch * ctx.world_size} global, "
        f"{steps_per_epoch} steps per epoch"
    )
    log.info(f"{task} task: best.pt keeps the {mode} {monitor} (checkpoint.monitor)")
    clock = RunClock(run_steps(steps_per_epoch, trainer), progress.step)
    shown = cfg["logging"]["progress"]
    report = StepReport(writer, optimizer, grad_norm, clock, ctx, shown, progress.samples)
    bar: Any = None
    stop = StopRequest().install()

    def stop_if_requested() -> None:
        if any_rank(stop.requested, ctx, device):
            saver.save(progress, best, train_metrics.sums, ("last.pt",))
            signum = stop.signum or signal.SIGTERM
            raise Interrupted(
                signum,
                f"stopped by {signal.Signals(signum).name} at step "
                f"{progress.step}; {saver.last} holds the run: the same "
                "command resumes it.",
            )

    first_step = progress.step + 1

    def after_step(loss: torch.Tensor) -> bool:
        scheduler.after_optimizer_step()
        if progress.step == first_step:
            seconds = time.perf_counter() - clock.started
            warm = " (includes torch.compile's warm-up)" if trainer["compile"] else ""
            log.info(f"first optimizer step after {seconds:.2f}s{warm}")
        if progress.step % log_every == 0:
            if any_rank(train_metrics.has_nonfinite(), ctx, device):
                raise _nonfinite(f"by step {progress.step}", saver.last)
            report(progress, loss, bar, trainer["max_epochs"])
        if save_every and progress.step % save_every == 0:
            if any_rank(train_metrics.has_nonfinite(), ctx, device):
                raise _nonfinite(f"by step {progress.step}", saver.last)
            saver.save(progress, best, train_metrics.sums, ("last.pt",), keep_step=True)
        stop_if_requested()
        return trainer["max_steps"] > 0 and progress.step >= trainer["max_steps"]

    def run_done() -> bool:
        epochs_done = progress.epoch > trainer["max_epochs"]
        return epochs_done or (trainer["max_steps"] > 0 and progress.step >= trainer["max_steps"])

    try:
        while not run_done():
            epoch = progress.epoch
            started, samples_before = time.perf_counter(), progress.samples
            train_loader.sampler.set_epoch(epoch, start=progress.batch * batch)
            bar = progress_bar(
                train_loader,
                progress,
                trainer["max_epochs"],
                cfg["logging"]["progress"],
                ctx.is_main,
            )
            train_one_epoch(
                train_model,
                bar,
                loss_fn,
                optimizer,
                precision,
                device,
                settings,
                progress,
                train_metrics,
                after_step,
            )
            if hasattr(bar, "close"):
                bar.close()
            train_metrics.all_reduce()
            if train_metrics.has_nonfinite():
                raise _nonfinite(f"in epoch {epoch}", saver.last)
            record: dict[str, Any] = {"epoch": epoch, "step": progress.step}
            record.update({f"train/{k}": v for k, v in train_metrics.compute().items()})
            progress.epoch, progress.batch = epoch + 1, 0
            train_metrics = metrics_for(task, device)
            final = run_done()
            if val_loader is not None and (epoch % trainer["val_every"] == 0 or final):
                scores = evaluate(
                    model, val_loader, loss_fn, precision, device, task, channels_last
                )
                record.update({f"val/{k}": v for k, v in scores.items()})
            seconds = time.perf_counter() - started
            record["lr"] = optimizer.param_groups[0]["lr"]
            record["images_per_sec"] = (
                (progress.samples - samples_before) * ctx.world_size / seconds
            )
            record["epoch_seconds"] = seconds
            if progress.skipped:
                record["skipped_steps"] = progress.skipped
            scheduler.after_epoch(record)
            writer.log_epoch(record)
            log.info(_epoch_line(record, trainer["max_epochs"]))
            if monitor.startswith("val/") and val_loader is None:
                raise UserError(
                    f"checkpoint.monitor={monitor} but there is no validation split: "
                    "set data.val_split > 0 or checkpoint.monitor=train/loss."
                )
            names: tuple[str, ...] = ("last.pt",)
            if monitor in record and best.improved(record[monitor], mode):
                best = Best(score=record[monitor], epoch=epoch)
                names = ("best.pt", "last.pt")
            saver.save(progress, best, train_metrics.sums, names)
            stop_if_requested()
            if on_epoch_end is not None and ctx.is_main:
                on_epoch_end(record, monitor)
    finally:
        stop.uninstall()
        writer.close()
        if hasattr(bar, "close"):
            bar.close()  # an error message must not land on the bar's line

    barrier(ctx)  # best.pt is complete before any rank reads it
    results: dict[str, Any] = {
        "epoch": progress.epoch - 1,
        "step": progress.step,
        "monitor": monitor,
        "best_epoch": best.epoch,
        "best_score": best.score,
    }
    best_path = ckpt_dir / "best.pt"
    if best_path.is_file():
        best_state = checkpoint.load(best_path, device)
        checkpoint.load_model_weights(model, best_state["model"], str(best_path))
    for split, loader in (("val", val_loader), ("test", test_loader)):
        if loader is not None:
            scores = evaluate(model, loader, loss_fn, precision, device, task, channels_last)
            results.update({f"{split}/{k}": v for k, v in scores.items()})
    if ctx.is_main:
        write_json(run_dir / "results.json", results)
    summary = "  ".join(f"{k} {v:.4f}" for k, v in results.items() if k.startswith("test/"))
    tested = f"; {summary}" if summary else " (no test split)"
    log.info(f"best {monitor} {best.score:.4f} at epoch {best.epoch}{tested}")
    barrier(ctx)
    if ctx.is_main:
        write_visuals(run_dir, cfg, progress.step)
    return results


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
