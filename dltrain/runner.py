"""Fit and evaluate from a frozen config: build every component, train, test the best weights.

Read ``fit`` top to bottom: it is the whole training run. The per-batch work is in loop.py.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dltrain import checkpoint
from dltrain.build import (
    build_data,
    build_loss,
    build_model,
    build_optimizer,
    build_scheduler,
    model_task,
)
from dltrain.errors import UserError
from dltrain.loop import Progress, StepConfig, evaluate, train_one_epoch
from dltrain.precision import Precision
from dltrain.registry import import_user_modules
from dltrain.run_files import MetricsFile, setup_logging, write_json
from dltrain.seeding import loader_generator, seed_everything, seed_worker, set_deterministic

log = logging.getLogger("dltrain")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name} but no CUDA GPU is available here. Use device=cpu or auto.")
    return torch.device(name)


def make_loader(
    dataset: Dataset, data_cfg: Mapping[str, Any], train: bool, seed: int, device: torch.device
) -> DataLoader:
    workers = data_cfg.get("num_workers", 0)
    return DataLoader(
        dataset,
        batch_size=data_cfg["batch_size"],
        shuffle=train,
        drop_last=train and data_cfg.get("drop_last", False),
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.type == "cuda",
        worker_init_fn=seed_worker if workers > 0 else None,
        generator=loader_generator(seed) if train else None,
    )


@dataclass
class Best:
    score: float = math.nan
    epoch: int = 0

    def improved(self, value: float, mode: str) -> bool:
        if math.isnan(self.score):
            return not math.isnan(value)
        return value > self.score if mode == "max" else value < self.score


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": generator.get_state(),
    }


def _set_rng_state(state: Mapping[str, Any], generator: torch.Generator) -> None:
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["loader"])


def _progress_bar(loader: DataLoader, epoch: int, max_epochs: int, mode: str) -> Any:
    enabled = mode == "on" or (mode == "auto" and sys.stderr.isatty())
    if not enabled:
        return loader
    from tqdm import tqdm

    return tqdm(loader, desc=f"epoch {epoch}/{max_epochs}", leave=False, dynamic_ncols=True)


def fit(cfg: Mapping[str, Any], run_dir: Path) -> dict[str, float]:
    """Train as the config says, keep best/last checkpoints, test the best weights."""
    setup_logging(run_dir)
    import_user_modules(cfg["imports"])
    device = resolve_device(cfg["device"])
    set_deterministic(cfg["deterministic"])
    seed_everything(cfg["seed"])
    trainer, data_cfg = cfg["trainer"], cfg["data"]

    task = model_task(cfg["model"])
    data = build_data(data_cfg, task)
    train_loader = make_loader(data.train, data_cfg, True, cfg["seed"], device)
    val_loader = data.val and make_loader(data.val, data_cfg, False, cfg["seed"], device)
    test_loader = data.test and make_loader(data.test, data_cfg, False, cfg["seed"], device)
    if len(train_loader) == 0:
        raise UserError("the training split is empty: lower data.batch_size or data.val_split.")
    model = build_model(cfg["model"]).to(device)
    loss_fn = build_loss(cfg["loss"], task).to(device)
    optimizer = build_optimizer(cfg["optimizer"], model)
    steps_per_epoch = math.ceil(len(train_loader) / trainer["grad_accum"])
    scheduler = build_scheduler(
        cfg["scheduler"], optimizer, steps_per_epoch, trainer["max_epochs"], trainer["max_steps"]
    )
    precision = Precision(cfg["precision"]["name"], device, cfg["precision"]["tf32"])
    monitor, mode = cfg["checkpoint"]["monitor"], cfg["checkpoint"]["mode"]
    ckpt_dir = run_dir / "checkpoints"
    metrics_file = MetricsFile(run_dir / "metrics.jsonl")
    progress, best, start_epoch = Progress(), Best(), 1

    def state(epoch: int) -> dict[str, Any]:
        return {
            "model": checkpoint.strip_prefixes(model.state_dict()),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": precision.scaler.state_dict(),
            "epoch": epoch,
            "step": progress.step,
            "samples": progress.samples,
            "best_score": best.score,
            "best_epoch": best.epoch,
            "metrics_lines": metrics_file.lines(),
            "rng": _rng_state(train_loader.generator),
            "config": dict(cfg),
        }

    last = ckpt_dir / "last.pt"
    if cfg["resume"] == "auto" and last.is_file():
        saved = checkpoint.load(last, map_location=device)
        checkpoint.load_model_weights(model, saved["model"], str(last))
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        precision.scaler.load_state_dict(saved["scaler"])
        progress = Progress(step=saved["step"], samples=saved["samples"])
        best = Best(score=saved["best_score"], epoch=saved["best_epoch"])
        start_epoch = saved["epoch"] + 1
        metrics_file.truncate(saved["metrics_lines"])
        _set_rng_state(saved["rng"], train_loader.generator)
        log.info(f"resumed from {last} after epoch {saved['epoch']} (step {progress.step})")

    settings = StepConfig(
        grad_accum=trainer["grad_accum"],
        grad_clip=trainer["grad_clip"],
        max_steps=trainer["max_steps"],
        log_every=cfg["logging"]["every_n_steps"],
    )
    params = sum(p.numel() for p in model.parameters())
    log.info(
        f"model {cfg['model']['name']} ({params:,} parameters) on {device}, precision "
        f"{precision.name}; data {data_cfg['name']}: {len(data.train)} train / "
        f"{len(data.val) if data.val else 0} val / {len(data.test) if data.test else 0} test, "
        f"batch {data_cfg['batch_size']}, {steps_per_epoch} steps per epoch"
    )
    epoch = start_epoch - 1
    for epoch in range(start_epoch, trainer["max_epochs"] + 1):
        if progress.done(trainer["max_steps"]):
            break
        started = time.perf_counter()
        samples_before = progress.samples
        bar = _progress_bar(train_loader, epoch, trainer["max_epochs"], cfg["logging"]["progress"])

        def on_log(values: dict[str, float], epoch: int = epoch, bar: Any = bar) -> None:
            lr = optimizer.param_groups[0]["lr"]
            metrics_file.write({"epoch": epoch, "step": progress.step, **values, "lr": lr})
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(
                    loss=f"{values['train/loss']:.4f}", img_s=f"{values['images_per_sec']:.0f}"
                )

        train_metrics = train_one_epoch(
            model,
            bar,
            loss_fn,
            optimizer,
            precision,
            device,
            settings,
            progress,
            scheduler.after_optimizer_step,
            on_log,
        )
        if hasattr(bar, "close"):
            bar.close()
        seconds = time.perf_counter() - started
        record: dict[str, Any] = {"epoch": epoch, "step": progress.step}
        record.update({f"train/{k}": v for k, v in train_metrics.items()})
        last_epoch = epoch == trainer["max_epochs"] or progress.done(trainer["max_steps"])
        if val_loader is not None and (epoch % trainer["val_every"] == 0 or last_epoch):
            val_metrics = evaluate(model, val_loader, loss_fn, precision, device)
            record.update({f"val/{k}": v for k, v in val_metrics.items()})
        record["lr"] = optimizer.param_groups[0]["lr"]
        record["images_per_sec"] = (progress.samples - samples_before) / seconds
        record["epoch_seconds"] = seconds
        scheduler.after_epoch(record)
        metrics_file.write(record)
        log.info(_epoch_line(record, trainer["max_epochs"]))

        if monitor not in record and monitor.startswith("val/") and val_loader is None:
            raise UserError(
                f"checkpoint.monitor={monitor} but there is no validation split: "
                "set data.val_split > 0 or checkpoint.monitor=train/loss."
            )
        if monitor in record and best.improved(record[monitor], mode):
            best = Best(score=record[monitor], epoch=epoch)
            checkpoint.save_atomic(state(epoch), ckpt_dir / "best.pt")
        checkpoint.save_atomic(state(epoch), last)

    results: dict[str, Any] = {
        "epoch": epoch,
        "step": progress.step,
        "monitor": monitor,
        "best_epoch": best.epoch,
        "best_score": best.score,
    }
    best_path = ckpt_dir / "best.pt"
    if best_path.is_file():
        checkpoint.load_model_weights(
            model, checkpoint.load(best_path, device)["model"], str(best_path)
        )
    for split, loader in (("val", val_loader), ("test", test_loader)):
        if loader is not None:
            scores = evaluate(model, loader, loss_fn, precision, device)
            results.update({f"{split}/{k}": v for k, v in scores.items()})
    write_json(run_dir / "results.json", results)
    summary = "  ".join(f"{k} {v:.4f}" for k, v in results.items() if k.startswith("test/"))
    log.info(f"best {monitor} {best.score:.4f} at epoch {best.epoch}; {summary}")
    return results


def _epoch_line(record: Mapping[str, Any], max_epochs: int) -> str:
    parts = [f"epoch {record['epoch']}/{max_epochs}"]
    for key in ("train/loss", "train/accuracy", "val/loss", "val/accuracy"):
        if key in record:
            parts.append(f"{key} {record[key]:.4f}")
    parts.append(f"lr {record['lr']:.2e}")
    parts.append(f"{record['images_per_sec']:.0f} img/s")
    parts.append(f"{record['epoch_seconds']:.1f}s")
    return "  ".join(parts)
