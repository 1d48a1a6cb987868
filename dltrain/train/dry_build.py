"""The dry build: every component of a job, built as the run builds it, before any folder exists.

Preflight calls ``dry_build`` once per job. The model is built on the meta device (shapes only:
no memory, no weight file read) and run forward on a batch of two at the data's input shape;
the loss is run on outputs of that shape; the optimizer (parameter groups, frozen parameters)
and the scheduler (nested ones too) are built over the meta parameters; the callbacks from
their options. The builders are the ones train/run.py uses, so whatever fails here would fail
the run: exit 2, nothing written. The extra metrics (``metrics=[...]``) must be the task's, and
the monitored metrics must be ones the run logs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from dltrain.callbacks.callback_list import build_callbacks
from dltrain.components.losses import build_loss
from dltrain.components.optimizers import build_optimizer
from dltrain.components.schedulers import LRStepper, build_scheduler
from dltrain.config.freeze import to_plain
from dltrain.config.schema import RunConfig, run_config
from dltrain.data.augment.mixing import check_mixing_fits
from dltrain.data.build import check_targets_for, has_validation_split
from dltrain.distributed.device import resolve_device
from dltrain.distributed.fsdp import check_fsdp
from dltrain.errors import UserError
from dltrain.metrics import catalog
from dltrain.models.build import build_model, model_task
from dltrain.models.module_types import modules_of_types
from dltrain.models.probe import FORWARD_ERRORS, check_input_shape
from dltrain.registry import LOSSES, blame
from dltrain.train.metrics import METRICS, metric_names
from dltrain.train.monitor import check_monitored, resolve_monitor

log = logging.getLogger(__name__)

STEPS_PER_EPOCH = 1  # unknown before the data is read; only the scheduler's length uses it


def dry_build(cfg: DictConfig) -> None:
    """Build every component of the composed job ``cfg``; exit 2 on what would fail the run."""
    run = run_config(to_plain(cfg))
    task = model_task(run.model)
    check_targets_for(run.data, task)
    device = _check_device(run)
    loss_fn = build_loss(run.loss, task)
    check_mixing_fits(run.data, task, loss_fn, run.loss["name"])
    model = _meta_model(run.model)
    _check_module_types(run, model, device)
    scheduler, outputs = None, None
    if model is not None:
        outputs = check_input_shape(model, run.model, run.data)
        if outputs is not None:
            _check_loss_runs(loss_fn, run.loss, outputs, task, run.data)
        scheduler = _optimizer_and_scheduler(run, model)
    classes = _classes(task, outputs, run.data)
    _check_metrics(run, task, classes)
    _check_monitors(run, task, scheduler, classes)
    monitor, mode = resolve_monitor(run.checkpoint.monitor, run.checkpoint.mode, task)
    has_val, max_epochs = has_validation_split(run.data), run.trainer.max_epochs
    build_callbacks(run.callbacks, monitor, mode, task, has_val, max_epochs, run.metrics, classes)


def _optimizer_and_scheduler(run: RunConfig, model: nn.Module) -> LRStepper:
    """The optimizer over the meta model's trainable parameters, and its scheduler."""
    trainer, section = run.trainer, dict(run.optimizer)
    if "fused" in section:
        section["fused"] = None  # the meta device has no fused kernels; the run's device may
    optimizer = build_optimizer(
        section,
        model,
        grad_accum=trainer.grad_accum,
        grad_clip=trainer.grad_clip,
        precision=run.precision.name,
    )
    return build_scheduler(
        run.scheduler, optimizer, STEPS_PER_EPOCH, trainer.max_epochs, trainer.max_steps
    )


def _check_device(run: RunConfig) -> torch.device:
    """The device exists here, and SyncBatchNorm (CUDA only) is not asked for on a CPU."""
    device = resolve_device(run.device)
    if run.distributed.sync_bn and device.type != "cuda":
        raise UserError(
            f"distributed.sync_bn=true needs CUDA GPUs (torch's SyncBatchNorm has no "
            f"{device.type} kernel), but this run trains on {device.type} (device={run.device}). "
            "Set distributed.sync_bn=false, or run on GPUs."
        )
    return device


def _check_module_types(run: RunConfig, model: nn.Module | None, device: torch.device) -> None:
    """trainer.activation_checkpointing and distributed.fsdp.wrap name module types the model
    has; distributed=fsdp's other limits (precision, offload, averaging callbacks)."""
    names = run.trainer.activation_checkpointing
    if model is not None and names:
        modules_of_types(model, names, "trainer.activation_checkpointing")
    if run.distributed.name == "fsdp":
        check_fsdp(run, model, device)


def _meta_model(section: Mapping[str, Any]) -> nn.Module | None:
    """The model on the meta device with init and freeze applied and no weights loaded; None
    when its constructor cannot run on meta (nothing is known then, so nothing is refused)."""
    try:
        with torch.device("meta"):
            return build_model(section, load_weights=False)
    except (RuntimeError, NotImplementedError) as err:
        log.debug("dry build: model '%s' cannot be built on meta: %s", section["name"], err)
        return None


def _zero_targets(task: str, outputs: torch.Size, data: Mapping[str, Any]) -> torch.Tensor | None:
    """Targets of the shape and type the data gives the task: class indices, or 1-channel
    float masks at the input size; None where it is not known (regression widths vary)."""
    if task == "classification":
        return torch.zeros(outputs[0], dtype=torch.long)
    if task == "segmentation":
        return torch.zeros(outputs[0], 1, *[int(n) for n in data["shape"][1:]])
    return None


def _check_loss_runs(
    loss_fn: nn.Module,
    section: Mapping[str, Any],
    outputs: torch.Size,
    task: str,
    data: Mapping[str, Any],
) -> None:
    """The loss takes outputs of the model's shape and the data's targets (on small CPU zeros:
    losses are cheap, and some have no meta kernels); a failure names the loss option."""
    classes = data.get("num_classes")
    if task == "classification" and classes is not None and outputs[1:] != (classes,):
        raise UserError(
            f"the model outputs {list(outputs[1:])} values per sample but data "
            f"'{data['name']}' has {classes} classes: set model.num_classes={classes} "
            "(or leave it at ${data.num_classes})."
        )
    targets = _zero_targets(task, outputs, data)
    if targets is None:
        return
    logits = torch.zeros(outputs)
    try:
        loss_fn(logits, targets)
    except FORWARD_ERRORS as err:
        options = {k: v for k, v in section.items() if k != "name"}
        name = section["name"]
        key = blame(lambda kept: LOSSES.build({"name": name, **kept})(logits, targets), options)
        fix = f"Change loss.{key} (now {options[key]})." if key else "Check the loss.* options."
        raise UserError(
            f"loss '{name}' fails on the model's outputs {list(outputs)} and the data's "
            f"targets {list(targets.shape)}: {str(err).strip().splitlines()[0]}. {fix}"
        ) from None


def _classes(task: str, outputs: torch.Size | None, data: Mapping[str, Any]) -> int | None:
    """The classes the extra metrics will count: the model's output width (a binary mask's one
    channel is two classes), else data.num_classes; None when unknown or not classes."""
    if task == "classification":
        return int(outputs[1]) if outputs is not None else data.get("num_classes")
    if task == "segmentation" and outputs is not None:
        return max(int(outputs[1]), 2)
    return None


def _check_metrics(run: RunConfig, task: str, classes: int | None) -> None:
    """metrics=[...] names metrics of the model's task (top-K: K at most the classes)."""
    if run.metrics and task not in METRICS:
        raise UserError(
            f"metrics={list(run.metrics)} needs a classification, segmentation or regression "
            f"model; this run's model is a '{task}' model. Drop metrics=[...]."
        )
    catalog.check_fit(run.metrics, task, classes)


def _check_monitors(
    run: RunConfig, task: str, scheduler: LRStepper | None, classes: int | None
) -> None:
    """checkpoint.monitor and a plateau scheduler's monitor name metrics the task logs (the
    extras of metrics=[...] among them), of a split the run has."""
    if task not in METRICS:
        return  # a user's task: its metrics are not known here
    names = [*metric_names(task), *catalog.logged_keys(run.metrics, classes)]
    logged = [f"{split}/{name}" for split in ("train", "val") for name in names]
    has_val = has_validation_split(run.data)
    configured = run.checkpoint.monitor
    monitor, _ = resolve_monitor(configured, run.checkpoint.mode, task)
    picked_by = f"auto for a {task} model" if configured == "auto" else ""
    monitors = [("checkpoint.monitor", monitor, picked_by)]
    if scheduler is not None and scheduler.monitor is not None:
        monitors.append(("scheduler.monitor", scheduler.monitor, ""))
    for key, metric, why in monitors:
        catalog.require_listed(key, metric, task, run.metrics)
        check_monitored(key, metric, logged, has_val, why)
