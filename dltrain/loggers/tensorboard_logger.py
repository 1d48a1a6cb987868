"""``logger=[tensorboard]``: TensorBoard event files in RUN_DIR/tensorboard.

Every value is a scalar against the optimizer step, so step and epoch curves share one x axis.
Tags: the epoch records' metrics as metrics.jsonl names them (``train/loss``, ``val/accuracy``,
...) and their other values under ``epoch/`` (``epoch/lr``, ``epoch/images_per_sec``,
``epoch/epoch_seconds``: each epoch's own duration, not a clock); the step events under
``step/`` (``step/train_loss``, ``step/lr``, ``step/images_per_sec``, ``step/grad_norm``); the
rate of every parameter group as ``lr/group0``, ``lr/group1``, ... (runs with several groups,
or ``callbacks=[lr_monitor]``). A step event's ``time`` (a wall-clock timestamp) is the
event's wall time, not a curve. A resumed run purges the events the interrupted process wrote
after its checkpoint (``purge_step``), so curves never double back.

At the end (``finish``): the tested metrics as scalars at the last step (``test/accuracy``, and
the best checkpoint's validation metrics as ``best/val/accuracy``: ``val/accuracy`` is the
epochs' curve) and the HParams tab: the resolved config, flattened (``optimizer.lr``,
``model.name``, ...), against those metrics, written into the same folder with
torch.utils.tensorboard's ``hparams`` summaries (``add_hparams`` would make a sub-run per call).
Then the prediction gallery (``predictions/samples``, ``predictions/confusion_matrix``) is
added as images, drawn from the best checkpoint. ``graph=true`` adds the model's graph.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dltrain.loggers.base import Logger, LoggerRun
from dltrain.registry import LOGGERS

log = logging.getLogger("dltrain")

SPLITS = ("train/", "val/", "test/")
WALL_CLOCK = "time"  # a step event's time.time(): the wall time of its points, not a scalar
RATES = "lr/"  # lr/group<N>: one curve per parameter group, from step events and epoch records
NOT_HPARAMS = ("logger.",)  # where the run's metrics go, not how it trains


@LOGGERS.register("tensorboard", requires=("tensorboard", "dltrain[tensorboard]"))
class TensorBoardLogger(Logger):
    def __init__(self, run: LoggerRun, graph: bool = False) -> None:
        super().__init__(run, graph=graph)
        self.folder = run.run_dir / "tensorboard"
        self.graph = graph
        self.writer: Any = None
        self.rate_steps: dict[str, int] = {}  # lr/groupN: the last step written

    def log(self, event: Mapping[str, Any], kind: str) -> None:
        step = int(event["step"])
        if self.writer is None:
            # Events logged after the checkpoint this process resumed from start at `step`.
            self._open(purge_step=step)
        walltime = event.get(WALL_CLOCK)
        for key, value in event.items():
            if key in ("step", WALL_CLOCK) or (kind == "step" and key == "epoch"):
                continue
            if not finite_number(value) or not self._new_rate(key, step):
                continue
            self.writer.add_scalar(tag(key, kind), value, step, walltime=walltime)

    def _new_rate(self, key: str, step: int) -> bool:
        """lr/groupN once per step: an epoch record repeats the step event of its last step."""
        if not key.startswith(RATES):
            return True
        if self.rate_steps.get(key, -1) >= step:
            return False
        self.rate_steps[key] = step
        return True

    def finish(self, results: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        if self.writer is None:
            self._open(purge_step=None)  # a finished run resumed: nothing to purge
        step = int(results["step"])
        metrics = final_metrics(results)
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)
        declared = {name: value for name, value in metrics.items() if "_class_" not in name}
        for summary in hparams(hparam_values(self.run.config), declared):
            self.writer.file_writer.add_summary(summary, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _open(self, purge_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.folder), purge_step=purge_step, flush_secs=10)
        if self.graph:
            add_model_graph(self.writer, self.run.config)


def add_model_graph(writer: Any, config: Mapping[str, Any]) -> None:
    """The model's graph (``graph=true``): a copy built from the config (the graph does not
    depend on the weights), traced on one zero input of ``data.shape``. The torch RNG is
    forked, so building it draws nothing from the training's random stream. A model that
    cannot be traced is a warning: the graph is a view, the run goes on."""
    import torch

    from dltrain.models.build import build_model

    shape = [1, *(int(n) for n in config["data"]["shape"])]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's deprecation and TracerWarnings
            model = build_model(config["model"], load_weights=False).eval()
            writer.add_graph(model, torch.zeros(shape), use_strict_trace=False)
    except Exception as err:  # noqa: BLE001 - tracing fails in many ways; none stops a run
        log.warning(f"logger.tensorboard.graph: the model graph could not be traced ({err})")


def final_metrics(results: Mapping[str, Any]) -> dict[str, float]:
    """results.json's split metrics as tags: ``test/*`` as they are; the best checkpoint's
    ``val/*`` as ``best/val/*`` (``val/*`` holds the epochs' curves)."""
    metrics = {}
    for key, value in results.items():
        if key.startswith(("val/", "test/")) and finite_number(value):
            metrics[key if key.startswith("test/") else f"best/{key}"] = float(value)
    return metrics


def hparam_values(config: Mapping[str, Any]) -> dict[str, float | str]:
    """The resolved config flattened to HParams values: numbers as numbers; strings, booleans
    (``true``/``false``) and lists (JSON) as text; null left out. Group choices are the
    ``<group>.name`` keys (``model.name``, ``optimizer.name``, ...)."""
    values: dict[str, float | str] = {}
    for key, value in _flat(config, ""):
        if value is None or key.startswith(NOT_HPARAMS):
            continue
        if isinstance(value, bool):
            values[key] = "true" if value else "false"
        elif isinstance(value, int | float | str):
            values[key] = value
        else:
            values[key] = json.dumps(value)
    return values


def _flat(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _flat(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), node


def add_png_images(run_dir: Path, paths: list[Path], step: int) -> None:
    """The run's prediction PNGs (samples, confusion matrix) as TensorBoard images."""
    import numpy as np
    from PIL import Image
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tensorboard"))
    try:
        for path in paths:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            writer.add_image(f"predictions/{path.stem}", pixels, step, dataformats="HWC")
    finally:
        writer.close()


def finite_number(value: Any) -> bool:
    """A number (not a bool) that is neither NaN nor infinite: what a scalar can be."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value)


def tag(key: str, kind: str) -> str:
    """The TensorBoard tag of a metrics.jsonl key in a step or an epoch event."""
    if key.startswith(RATES):
        return key
    if kind == "step":
        return "step/" + key.replace("/", "_")
    return key if key.startswith(SPLITS) else f"epoch/{key}"
