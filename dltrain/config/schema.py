"""The train config's fixed sections: the one home of their defaults, types and choices.

configs/train.yaml picks the component options (data, model, ...) and sets Hydra; every value
of the fixed sections (trainer, checkpoint, logging, precision, distributed, top-level keys)
is declared here once, with its default and, for a closed set of values, its choices, which
``check_choices`` validates for the whole tree. Component sections (data, model, loss,
optimizer, scheduler) hold each component's own keys, typed by the option's YAML.

After composition the run works on ``RunConfig``: the same tree as attributes
(``cfg.trainer.max_epochs``), built from the frozen plain dict. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, OmegaConf

from dltrain.errors import UserError

COMPONENT_GROUPS = ("data", "model", "loss", "optimizer", "scheduler")
# Groups picked as a list (callbacks=[a,b]): each option's keys under <group>.<option>.
LIST_GROUPS = ("callbacks", "logger")


def choice(*values: str) -> Any:
    """A string field whose default is ``values[0]`` and whose value must be one of ``values``."""
    return field(default=values[0], metadata={"choices": values})


@dataclass
class TrainerConfig:
    max_epochs: int = 20
    max_steps: int = -1  # -1: no limit; otherwise stop after this many optimizer steps
    grad_accum: int = 1  # an optimizer step every N batches
    grad_clip: float | None = None  # max global gradient norm; null disables clipping
    val_every: int = 1  # validate every N epochs (and always after the last)
    channels_last: str = choice("auto", "true", "false")  # NHWC: auto = models with 2-D convs
    compile: bool = False  # torch.compile the training model (warm-up time is logged)
    on_nan: str = choice("stop", "skip")  # stop: exit 1 keeping the last good checkpoint
    # Batches per epoch and process (Lightning's meanings): an int is a count, a float a
    # fraction of the split's batches (1.0: all of them). train/limits.py applies them.
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0  # validation after each epoch and of the best weights
    limit_test_batches: int | float = 1.0
    overfit_batches: int | float = 0  # > 0: train on these first batches (unshuffled) every
    # epoch and validate on the same batches: a model that learns drives that loss down
    fast_dev_run: int = 0  # N > 0: N batches of train, val, test, one epoch; keeps no files but
    # config.yaml and train.log (no checkpoints, metrics, results, loggers, plots)
    detect_anomaly: bool = False  # torch.autograd anomaly detection: slow, names a NaN's op
    # Module class names whose activations are recomputed in backward instead of kept
    # (train/activation_checkpointing.py): less memory, about one more forward pass of time.
    activation_checkpointing: list[str] = field(default_factory=list)


@dataclass
class CheckpointConfig:
    monitor: str = "auto"  # auto: val/accuracy, val/dice or val/loss by the model's task
    mode: str = choice("auto", "max", "min")  # auto: min for losses and errors, max otherwise
    every_n_steps: int = 0  # also save last.pt every N optimizer steps (0: at epoch ends only)
    keep_last: int = 0  # keep the newest K step-NNN.pt copies of those saves (never best)


@dataclass
class LoggingConfig:
    every_n_steps: int = 50
    progress: str = choice("auto", "on", "off")  # auto: a tqdm bar on a terminal, lines otherwise


@dataclass
class PrecisionConfig:
    name: str = choice("fp32", "bf16", "fp16")  # bf16/fp16: autocast mixed precision
    tf32: bool = False  # allow TF32 matmuls on Ampere+ GPUs


@dataclass
class FsdpConfig:
    """distributed=fsdp (distributed/fsdp.py): what is sharded, and how."""

    # Module class names that become one FSDP unit each, then the root; null: the model
    # family's blocks (distributed/fsdp.py DEFAULT_BLOCKS), []: the root alone.
    wrap: list[str] | None = None
    cpu_offload: bool = False  # keep sharded parameters, gradients, optimizer state on the host
    reshard_after_forward: bool = True  # free gathered weights after forward (ZeRO-3; false: 2)


@dataclass
class DistributedConfig:
    name: str = choice("none", "ddp", "fsdp")
    nproc_per_node: int = 1  # ddp/fsdp: processes on this node (data.batch_size is per process)
    nnodes: int = 1  # > 1: start the same command on every node with its node_rank
    node_rank: int = 0
    rdzv_endpoint: str | None = None  # HOST:PORT of node 0 (c10d rendezvous) when nnodes > 1
    rdzv_id: str = "dltrain"
    max_restarts: int = 0  # restarts resume from checkpoints/last.pt in the same run folder
    backend: str = choice("auto", "gloo", "nccl")  # auto: nccl on CUDA, gloo on CPU
    sync_bn: bool = False  # convert BatchNorm layers to SyncBatchNorm
    threads_per_process: int | None = None  # CPU threads per process; null: cores / processes
    timeout: int = 120  # seconds a collective waits for a rank that hung before the job fails
    fsdp: FsdpConfig = field(default_factory=FsdpConfig)


@dataclass
class ProfilerConfig:
    """torch.profiler over a few optimizer steps (train/profiler.py): wait, warmup, active."""

    enabled: bool = False  # traces into RUN_DIR/profiler, the top operators into train.log
    wait: int = 1  # optimizer steps left alone first (the first step's one-off costs)
    warmup: int = 1  # steps traced and thrown away (the profiler's own start-up)
    active: int = 3  # steps recorded
    repeat: int = 1  # cycles of wait, warmup, active; 0: until the run ends
    record_shapes: bool = False  # input shapes of each operator
    profile_memory: bool = False  # tensor allocations
    with_stack: bool = False  # the Python source line of each operator (bigger traces)
    row_limit: int = 15  # operators in the train.log table


@dataclass
class RunConfig:
    """The whole train config. Component sections are plain dicts of the option's keys."""

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
    profiler: ProfilerConfig = field(default_factory=ProfilerConfig)
    seed: int | None = 42  # null: a random seed, chosen once and written into config.yaml
    deterministic: bool = False
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    resume: str = "auto"  # auto: continue from the run folder's last.pt | never | PATH
    imports: list[str] = field(default_factory=list)  # your modules that register components
    metrics: list[str] = field(default_factory=list)  # extra metrics: [f1_macro, auroc, ...]
    # callbacks=[early_stopping,ema]: each picked option's keys under callbacks.<option>
    callbacks: dict[str, Any] = field(default_factory=dict)
    # logger=[csv,tensorboard] (besides metrics.jsonl): each picked option under logger.<option>
    logger: dict[str, Any] = field(default_factory=dict)
    plots: bool = False  # write RUN_DIR/plots/*.png at the end of the run (dltrain plot)


def check_choices(cfg: Any, schema: type = RunConfig, prefix: str = "") -> None:
    """Every field of the schema is there, and every ``choice`` field holds one of its values
    (exit 2 naming them)."""
    for spec in dataclasses.fields(schema):
        key = f"{prefix}{spec.name}"
        if spec.name not in cfg.keys():  # noqa: SIM118 - `in cfg` is False for ??? too
            raise UserError(
                f"the config has no '{key}' (a `~{key}` override removes it), and every run "
                f"needs it. Drop the ~{key} override; to change it, write {key}=VALUE."
            )
        value = cfg[spec.name]
        section = spec.default_factory
        if isinstance(section, type) and dataclasses.is_dataclass(section):
            check_choices(value, section, f"{key}.")
        elif "choices" in spec.metadata and str(value).lower() not in spec.metadata["choices"]:
            options = ", ".join(spec.metadata["choices"])
            raise UserError(f"{key} must be one of {options}; got '{value}'.")


def run_config(plain: dict[str, Any]) -> RunConfig:
    """The frozen plain config as typed attributes (what the training recipe reads)."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RunConfig), plain))


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Back to the plain dict a checkpoint and config.yaml hold."""
    return dataclasses.asdict(cfg)
