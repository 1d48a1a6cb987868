"""``logger=[tensorboard]``: TensorBoard event files in RUN_DIR/tensorboard.

Every value is a scalar against the optimizer step, so step and epoch curves share one x axis.
Tags: the epoch records' metrics as metrics.jsonl names them (``train/loss``, ``val/accuracy``,
...) and their other values under ``epoch/`` (``epoch/lr``, ``epoch/images_per_sec``,
``epoch/epoch_seconds``); the step events under ``step/`` (``step/train_loss``, ``step/lr``,
``step/images_per_sec``, ``step/grad_norm``). A resumed run purges the events the interrupted
process wrote after its checkpoint (``purge_step``), so curves never double back. At the end
of a run the prediction gallery (``predictions/samples``, ``predictions/confusion_matrix``)
is added as images, drawn from the best checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dltrain.loggers.base import Logger, LoggerRun
from dltrain.registry import LOGGERS

SPLITS = ("train/", "val/", "test/")


@LOGGERS.register("tensorboard", requires=("tensorboard", "dltrain[tensorboard]"))
class TensorBoardLogger(Logger):
    def __init__(self, run: LoggerRun) -> None:
        super().__init__(run)
        self.folder = run.run_dir / "tensorboard"
        self.writer: Any = None

    def log(self, event: Mapping[str, Any], kind: str) -> None:
        step = int(event["step"])
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            # Events logged after the checkpoint this process resumed from start at `step`.
            self.writer = SummaryWriter(str(self.folder), purge_step=step, flush_secs=10)
        for key, value in event.items():
            if key == "step" or (kind == "step" and key == "epoch") or not _finite(value):
                continue
            self.writer.add_scalar(tag(key, kind), value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


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


def _finite(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value)


def tag(key: str, kind: str) -> str:
    """The TensorBoard tag of a metrics.jsonl key in a step or an epoch event."""
    if kind == "step":
        return "step/" + key.replace("/", "_")
    return key if key.startswith(SPLITS) else f"epoch/{key}"
