"""Validation of a composed config: value types, semantic rules, registered names, the loss.

Runs in the parent before any folder exists, so every failure is exit 2 with nothing written.
The choices of the fixed sections are declared in schema.py and checked there, once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from dltrain.config.compose import config_dir
from dltrain.config.interpolations import resolve_all
from dltrain.config.no_code import refuse_code
from dltrain.config.resume import SHARDED_STATE
from dltrain.config.schema import COMPONENT_GROUPS, LIST_GROUPS, check_choices
from dltrain.errors import UserError

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def validate_composed(cfg: DictConfig) -> None:
    """Every value resolved, no code named, then types of component values, semantic checks,
    every component name in its registry.

    Resolves ``loss: auto`` in ``cfg`` to the model task's loss (task_loss.py).
    """
    from dltrain.config.task_loss import resolve_loss
    from dltrain.loggers import check_loggers
    from dltrain.metrics.catalog import check_names
    from dltrain.registry import REGISTRIES, import_user_modules

    refuse_code(resolve_all(cfg))  # before anything imports, calls or reads a value
    check_component_types(cfg)
    validate(cfg)
    import_user_modules(cfg.imports)
    for group in COMPONENT_GROUPS:
        if not (group == "loss" and cfg.loss.name == "auto"):
            REGISTRIES[group].check(cfg[group].name)
    check_picked_sections("callbacks", cfg.callbacks)
    check_picked_sections("logger", cfg.logger)
    resolve_loss(cfg)
    check_loggers(cfg.logger)
    check_names(list(cfg.metrics))


def check_component_types(cfg: DictConfig) -> None:
    """Compare each component value with the type of its default in the option's own YAML.

    Read from the group's file rather than composed again (a composition costs ~0.15 s);
    interpolated defaults such as ``${data.num_classes}`` are left to the schema.
    """
    options = [(group, cfg.hydra.runtime.choices.get(group)) for group in COMPONENT_GROUPS]
    picked = [(f"{group}.{key}", key) for group in LIST_GROUPS for key in cfg[group]]
    for group, option in options + picked:
        source = config_dir() / group.split(".")[0] / f"{option}.yaml"
        if option is None or not source.is_file():
            continue
        defaults = OmegaConf.load(source)
        for key in defaults:
            if OmegaConf.is_interpolation(defaults, str(key)):
                continue
            default, value = defaults[key], OmegaConf.select(cfg, group).get(key)
            if not _same_kind(default, value):
                kind = type(default).__name__
                raise UserError(
                    f"bad value for '{group}.{key}': expected {kind} like {default!r}, "
                    f"got {value!r}. Fix the override {group}.{key}=..."
                )


def check_picked_sections(group: str, sections: DictConfig) -> None:
    """Each ``<group>.<key>`` section of a list pick (``callbacks=[...]``, ``logger=[...]``)
    names a registered component (after ``imports``)."""
    from dltrain.registry import REGISTRIES

    for key, section in sections.items():
        if not isinstance(section, DictConfig) or "name" not in section:
            raise UserError(
                f"{group}.{key} is not a {group} section (a mapping with a name). A file "
                f"configs/{group}/{key}.yaml starts with `# @package {group}.{key}` and "
                f"sets `name: <registered name>`; pick it with {group}=[{key}]."
            )
        try:
            REGISTRIES[group].check(section.name)
        except UserError as err:
            raise UserError(f"{group}.{key}.name: {err}") from None


def _same_kind(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, ListConfig | list):
        return isinstance(value, ListConfig | list)
    return True


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def validate(cfg: DictConfig) -> None:
    """Semantic checks Hydra cannot express; each names the key and the fix."""
    check_choices(cfg)
    data, trainer = cfg.data, cfg.trainer
    _positive(data.get("batch_size"), "data.batch_size")
    if data.get("num_workers", 0) < 0:
        raise UserError("data.num_workers must be 0 or more (0 loads data in the main process).")
    val_split = data.get("val_split", 0.0)
    if not 0.0 <= val_split < 1.0:
        raise UserError(f"data.val_split must be in [0, 1), got {val_split}.")
    _positive(trainer.max_epochs, "trainer.max_epochs")
    _positive(trainer.grad_accum, "trainer.grad_accum")
    _positive(trainer.val_every, "trainer.val_every")
    _positive(cfg.logging.every_n_steps, "logging.every_n_steps")
    if trainer.max_steps == 0 or trainer.max_steps < -1:
        raise UserError("trainer.max_steps must be a positive number of steps, or -1 for none.")
    if trainer.grad_clip is not None and trainer.grad_clip <= 0:
        raise UserError("trainer.grad_clip must be a positive norm, or null to disable clipping.")
    if not re.match(r"^(auto|(train|val)/\w+)$", cfg.checkpoint.monitor):
        raise UserError(
            f"checkpoint.monitor must be auto or name a logged metric such as val/accuracy or "
            f"val/loss, got '{cfg.checkpoint.monitor}'."
        )
    if not _DEVICE.match(cfg.device):
        raise UserError(f"device must be auto, cpu, cuda or cuda:N, got '{cfg.device}'.")
    _validate_distributed(cfg.distributed)
    _validate_debug(trainer)
    _validate_profiler(cfg.profiler)
    if cfg.resume not in ("auto", "never") and not _is_checkpoint(Path(cfg.resume).expanduser()):
        raise UserError(
            f"resume must be auto, never, a checkpoint file or a sharded checkpoint folder "
            f"(distributed=fsdp: checkpoints/last.dcp); '{cfg.resume}' is neither. "
            "To continue a run in its own folder, use hydra.run.dir=THAT_FOLDER resume=auto."
        )
    if cfg.checkpoint.every_n_steps < 0 or cfg.checkpoint.keep_last < 0:
        raise UserError("checkpoint.every_n_steps and checkpoint.keep_last must be 0 or more.")


def _is_checkpoint(path: Path) -> bool:
    return path.is_file() or (path / SHARDED_STATE).is_file()


def _validate_distributed(dist: DictConfig) -> None:
    _positive(dist.nproc_per_node, "distributed.nproc_per_node")
    _positive(dist.nnodes, "distributed.nnodes")
    _positive(dist.timeout, "distributed.timeout")
    if not 0 <= dist.node_rank < dist.nnodes:
        raise UserError(
            f"distributed.node_rank must be in [0, nnodes={dist.nnodes}), got {dist.node_rank}."
        )
    if dist.nnodes > 1 and not dist.rdzv_endpoint:
        raise UserError(
            "distributed.nnodes > 1 needs distributed.rdzv_endpoint=HOST:PORT (node 0's address)."
        )
    if dist.max_restarts < 0:
        raise UserError("distributed.max_restarts must be 0 or more.")
    if dist.threads_per_process is not None:
        _positive(dist.threads_per_process, "distributed.threads_per_process")


def _validate_debug(trainer: DictConfig) -> None:
    """Batch limits are a count (int >= 1) or a fraction (float in (0, 1]), as in Lightning."""
    for split in ("train", "val", "test"):
        _batch_limit(trainer[f"limit_{split}_batches"], f"trainer.limit_{split}_batches")
    if trainer.overfit_batches != 0:
        _batch_limit(trainer.overfit_batches, "trainer.overfit_batches", off="; 0: off")
    if trainer.fast_dev_run < 0:
        raise UserError(
            f"trainer.fast_dev_run must be 0 (off) or a number of batches, e.g. 1; "
            f"got {trainer.fast_dev_run}."
        )


def _batch_limit(value: Any, key: str, off: str = "") -> None:
    is_count = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if is_count or (isinstance(value, float) and 0.0 < value <= 1.0):
        return
    whole = isinstance(value, float) and value > 1 and value.is_integer()
    hint = f" (for {int(value)} batches write {int(value)})" if whole else ""
    raise UserError(
        f"{key} must be a number of batches (an int >= 1) or a fraction of the split's "
        f"batches (a float in (0, 1]; 1.0: all){off}; got {value!r}{hint}."
    )


def _validate_profiler(profiler: DictConfig) -> None:
    _positive(profiler.active, "profiler.active")
    _positive(profiler.row_limit, "profiler.row_limit")
    for key in ("wait", "warmup", "repeat"):
        if profiler[key] < 0:
            raise UserError(f"profiler.{key} must be 0 or more, got {profiler[key]}.")


def _positive(value: Any, key: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise UserError(f"{key} must be a positive integer, got {value!r}.")
