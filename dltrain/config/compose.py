"""Structured schemas for the train config, and composition with errors a user can act on.

The fixed sections (trainer, checkpoint, ...) are dataclasses, so a typo'd key or a wrong type
fails at composition. Component sections (data, model, loss, optimizer, scheduler) hold each
component's own keys; their values are type-checked against the chosen option's YAML defaults.
Nothing here imports torch.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from dltrain.errors import UserError
from dltrain.registry import did_you_mean

COMPONENT_GROUPS = ("data", "model", "loss", "optimizer", "scheduler")


@dataclass
class TrainerConfig:
    max_epochs: int = 20
    max_steps: int = -1  # -1: no limit; otherwise stop after this many optimizer steps
    grad_accum: int = 1
    grad_clip: float | None = None  # max global gradient norm; null disables clipping
    val_every: int = 1  # validate every N epochs (and always after the last)
    channels_last: str = "auto"  # auto: for models with 2-D convolutions | true | false
    compile: bool = False  # torch.compile the training model (warm-up time is logged)
    on_nan: str = "stop"  # stop: exit 1 keeping the last good checkpoint | skip: skip the step


@dataclass
class CheckpointConfig:
    monitor: str = "auto"  # auto: val/accuracy, val/dice or val/loss by the model's task
    mode: str = "auto"  # auto: min for losses and errors, max otherwise
    every_n_steps: int = 0  # also save last.pt every N optimizer steps (0: at epoch ends only)
    keep_last: int = 0  # keep the newest K step-NNN.pt copies of those saves (never pruning best)


@dataclass
class LoggingConfig:
    every_n_steps: int = 50
    progress: str = "auto"  # auto: a tqdm bar on a terminal, log lines otherwise; on | off


@dataclass
class PrecisionConfig:
    name: str = "fp32"  # fp32 | bf16 | fp16 (bf16/fp16: autocast mixed precision)
    tf32: bool = False


@dataclass
class DistributedConfig:
    name: str = "none"  # none | ddp
    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None  # HOST:PORT of node 0 when nnodes > 1
    rdzv_id: str = "dltrain"
    max_restarts: int = 0
    backend: str = "auto"  # auto: nccl on CUDA, gloo on CPU
    sync_bn: bool = False
    threads_per_process: int | None = None  # CPU threads per process; null: cores / processes


@dataclass
class TrainConfig:
    data: dict[str, Any] = MISSING
    model: dict[str, Any] = MISSING
    loss: dict[str, Any] = MISSING
    optimizer: dict[str, Any] = MISSING
    scheduler: dict[str, Any] = MISSING
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    seed: int = 42
    deterministic: bool = False
    device: str = "auto"
    resume: str = "auto"
    imports: list[str] = field(default_factory=list)
    logger: list[str] = field(default_factory=list)  # besides metrics.jsonl: csv, tensorboard
    plots: bool = False  # write RUN_DIR/plots/*.png at the end of the run (dltrain plot)


def _product(values: Any) -> int:
    return math.prod(int(v) for v in values)


def register_schemas() -> None:
    """Make the schema and the ``${prod:...}`` resolver known to Hydra and OmegaConf."""
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)
    if not OmegaConf.has_resolver("prod"):
        OmegaConf.register_new_resolver("prod", _product)
    _register_plugins()


def _register_plugins() -> None:
    """hydra/sweeper=dltrain_optuna and hydra/launcher=parallel, registered by hand: Hydra
    finds plugins by listing the hydra_plugins folders, which misses an editable install's.
    Both modules are light (no optuna, no torch)."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.dltrain_launchers.parallel_launcher import ParallelLauncher
    from hydra_plugins.dltrain_sweepers.optuna_sweeper import DltrainOptunaSweeper

    for plugin in (ParallelLauncher, DltrainOptunaSweeper):
        Plugins.instance().register(plugin)


def config_dir() -> Path:
    """The configs/ folder: the repository's in a checkout, the installed copy otherwise."""
    checkout = Path(__file__).resolve().parents[2] / "configs"
    if (checkout / "train.yaml").is_file():
        return checkout
    return Path(str(resources.files("dltrain.configs")))


def group_options(group: str) -> list[str]:
    folder = config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


_COMPOSED: dict[tuple[str, tuple[str, ...]], DictConfig] = {}


def compose(overrides: list[str], config_name: str = "train") -> DictConfig:
    """Compose the config as Hydra would, turning Hydra's errors into UserErrors.

    Each distinct override list is composed once per process (a composition costs ~0.15 s and
    the pre-flight checks ask for the same one more than once); callers get their own copy.
    """
    key = (config_name, tuple(overrides))
    if key not in _COMPOSED:
        _COMPOSED[key] = _compose(list(overrides), config_name)
    return copy.deepcopy(_COMPOSED[key])


def _compose(overrides: list[str], config_name: str) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )

    register_schemas()
    try:
        with initialize_config_dir(str(config_dir()), version_base="1.3", job_name="dltrain"):
            return hydra_compose(config_name, overrides=overrides, return_hydra_config=True)
    except MissingConfigException as err:
        raise UserError(_missing_option_message(err)) from None
    except OverrideParseException as err:
        raise UserError(f"cannot parse the override: {err}") from None
    except ConfigCompositionException as err:
        raise UserError(_composition_message(err, overrides)) from None
    except ValueError as err:  # e.g. `model=nan`: Hydra parses the value as a float
        raise UserError(
            f"cannot apply the overrides {overrides}: {err}. Quote values that "
            "look like numbers, e.g. model='\"nan\"'."
        ) from None


def _missing_option_message(err: Exception) -> str:
    missing = getattr(err, "missing_cfg_file", "") or ""
    options = list(getattr(err, "options", None) or [])
    if "/" in missing:
        group, choice = missing.rsplit("/", 1)
        hint = did_you_mean(choice, options)
        return (
            f"{group}={choice}: there is no {group} called '{choice}'.{hint}"
            f" Known {group} options: {', '.join(options)}. (`dltrain list {group}` shows them.)"
        )
    return str(err).strip()


def _composition_message(err: Exception, overrides: list[str]) -> str:
    cause = err.__cause__
    full_key = getattr(cause, "full_key", None)
    text = str(cause or err).splitlines()[0]
    if full_key and isinstance(cause, ConfigKeyError | ConfigAttributeError):
        parent, _, key = full_key.rpartition(".")
        known = _known_keys(parent, overrides)
        prefix = f"{parent}." if parent else ""
        hint = did_you_mean(full_key, [prefix + k for k in known])
        listing = f" Keys of {parent or 'the config'}: {', '.join(known)}." if known else ""
        return (
            f"unknown config key '{full_key}'.{hint}{listing} To add a new key on purpose, "
            f"write +{full_key}=VALUE."
        )
    if full_key:
        return f"bad value for '{full_key}': {text}. Fix the override for {full_key}."
    return f"{str(err).strip()}"


def selection_overrides(overrides: list[str]) -> list[str]:
    """The overrides that pick group options or set Hydra itself (search path, ...)."""
    groups = {p.name for p in config_dir().iterdir() if p.is_dir()}
    keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides]
    return [
        o
        for o, key in zip(overrides, keys, strict=True)
        if key in groups or key.startswith(("hydra.", "hydra/"))
    ]


def _known_keys(parent: str, overrides: list[str]) -> list[str]:
    """The keys of ``parent`` under the same group choices, for 'did you mean' hints."""
    selection = selection_overrides(overrides)
    if selection == overrides:
        return []  # these very overrides failed to compose: no recursion into the same error
    try:
        cfg = compose(selection)
    except UserError:
        return []
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return sorted(k for k in node if k != "hydra") if isinstance(node, DictConfig) else []


def check_component_types(cfg: DictConfig) -> None:
    """Compare each component value with the type of its default in the option's own YAML.

    Read from the group's file rather than composed again (a composition costs ~0.15 s);
    interpolated defaults such as ``${data.num_classes}`` are left to the schema.
    """
    for group in COMPONENT_GROUPS:
        option = cfg.hydra.runtime.choices.get(group)
        source = config_dir() / group / f"{option}.yaml"
        if option is None or not source.is_file():
            continue
        defaults = OmegaConf.load(source)
        for key in defaults:
            if OmegaConf.is_interpolation(defaults, str(key)):
                continue
            default, value = defaults[key], cfg[group].get(key)
            if not _same_kind(default, value):
                kind = type(default).__name__
                raise UserError(
                    f"bad value for '{group}.{key}': expected {kind} like {default!r}, "
                    f"got {value!r}. Fix the override {group}.{key}=..."
                )


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
    if cfg.checkpoint.mode not in ("min", "max", "auto"):
        raise UserError(f"checkpoint.mode must be min, max or auto, got '{cfg.checkpoint.mode}'.")
    if not re.match(r"^(auto|(train|val)/\w+)$", cfg.checkpoint.monitor):
        raise UserError(
            f"checkpoint.monitor must be auto or name a logged metric such as val/accuracy or "
            f"val/loss, got '{cfg.checkpoint.monitor}'."
        )
    if not _DEVICE.match(cfg.device):
        raise UserError(f"device must be auto, cpu, cuda or cuda:N, got '{cfg.device}'.")
    if cfg.precision.name not in ("fp32", "bf16", "fp16"):
        raise UserError(f"precision must be fp32, bf16 or fp16, got '{cfg.precision.name}'.")
    _validate_distributed(cfg.distributed)
    if cfg.logging.progress not in ("auto", "on", "off"):
        raise UserError(f"logging.progress must be auto, on or off, got '{cfg.logging.progress}'.")
    if cfg.resume not in ("auto", "never") and not Path(cfg.resume).expanduser().is_file():
        raise UserError(
            f"resume must be auto, never or a checkpoint file; '{cfg.resume}' is not a file. "
            "To continue a run in its own folder, use hydra.run.dir=THAT_FOLDER resume=auto."
        )
    if str(cfg.trainer.channels_last).lower() not in ("auto", "true", "false"):
        raise UserError(
            f"trainer.channels_last must be auto, true or false, got '{cfg.trainer.channels_last}'."
        )
    if cfg.trainer.on_nan not in ("stop", "skip"):
        raise UserError(f"trainer.on_nan must be stop or skip, got '{cfg.trainer.on_nan}'.")
    if cfg.checkpoint.every_n_steps < 0 or cfg.checkpoint.keep_last < 0:
        raise UserError("checkpoint.every_n_steps and checkpoint.keep_last must be 0 or more.")


def _validate_distributed(dist: DictConfig) -> None:
    if dist.name not in ("none", "ddp"):
        raise UserError(f"distributed must be none or ddp, got '{dist.name}'.")
    if dist.backend not in ("auto", "gloo", "nccl"):
        raise UserError(f"distributed.backend must be auto, gloo or nccl, got '{dist.backend}'.")
    _positive(dist.nproc_per_node, "distributed.nproc_per_node")
    _positive(dist.nnodes, "distributed.nnodes")
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


def _positive(value: Any, key: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise UserError(f"{key} must be a positive integer, got {value!r}.")


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    """Resolve every interpolation once and drop Hydra's own node: the frozen run config."""
    return {
        key: OmegaConf.to_container(cfg[key], resolve=True, throw_on_missing=True)
        if isinstance(cfg[key], DictConfig | ListConfig)
        else cfg[key]
        for key in cfg
        if key != "hydra"
    }
