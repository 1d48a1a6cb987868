"""What a finished run draws: ``plots=true`` PNGs, and the prediction gallery in TensorBoard.

Both come from the best checkpoint after testing, on rank 0 only. A failure here is a warning:
the run itself has finished and its checkpoints and results are already on disk.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dltrain.errors import UserError

log = logging.getLogger("dltrain")
# The PNGs drawn from the model's predictions (the rest are curves TensorBoard has as scalars).
PREDICTION_PLOTS = ("samples", "confusion_matrix", "predictions")


def write_visuals(run_dir: Path, cfg: Mapping[str, Any], step: int) -> None:
    """plots=true: RUN_DIR/plots; logger=[tensorboard]: sample predictions as images."""
    want_images = any(section["name"] == "tensorboard" for section in cfg["logger"].values())
    if not (cfg["plots"] or want_images):
        return
    try:
        with tempfile.TemporaryDirectory() as scratch:
            written = _draw(run_dir, cfg, Path(scratch), want_images)
            if want_images:
                from dltrain.loggers.tensorboard_logger import add_png_images

                shown = [p for p in written if p.stem in PREDICTION_PLOTS]
                add_png_images(run_dir, shown, step)
    except (UserError, RuntimeError, ValueError, OSError) as err:
        log.warning(f"the run's plots could not be drawn ({err}); try dltrain plot RUN_DIR")


def _draw(run_dir: Path, cfg: Mapping[str, Any], scratch: Path, want_images: bool) -> list[Path]:
    from dltrain.plots import plot_run

    if cfg["plots"]:
        written = plot_run(run_dir, device=cfg["device"])
        log.info(f"plots: {len(written)} PNG files in {run_dir / 'plots'}")
        return written
    return plot_run(run_dir, device=cfg["device"], output=scratch) if want_images else []
