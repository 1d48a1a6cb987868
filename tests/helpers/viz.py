"""In-process training runs for the plot / predict / export tests (no subprocess start-up).

``viz_seg`` is a tiny segmentation model registered here, as a user would register theirs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch import nn

from dltrain.config.compose import compose
from dltrain.config.freeze import to_plain
from dltrain.registry import MODELS


class VizSeg(nn.Module):
    def __init__(self, in_channels: int = 1, width: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 1, 1)
        )

    def forward(self, x):
        return self.net(x)  # per-pixel logits, N x 1 x H x W


class VizReg(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


for _name, _model, _task in (
    ("viz_seg", VizSeg, "segmentation"),
    ("viz_reg", VizReg, "regression"),
):
    if _name not in MODELS:
        MODELS.register(_name, task=_task)(_model)


def train_in_process(run_dir: Path, overrides: list[str], **sections: Any) -> dict[str, Any]:
    """Compose as `dltrain train` would, replace whole sections (model=..., loss=...), fit."""
    from dltrain.config.task_loss import resolve_loss
    from dltrain.train.recipe import fit

    cfg = compose([*overrides, f"hydra.run.dir={run_dir}"])
    resolve_loss(cfg)  # loss: auto -> the model task's loss, as the parent process does
    plain = to_plain(cfg)
    plain.update(sections)
    run_dir.mkdir(parents=True, exist_ok=True)
    results = fit(plain, run_dir)
    return {"cfg": plain, "results": results}


def save_idx_images_as_files(root: Path, folder: Path, count: int) -> list[Path]:
    """The first ``count`` FashionMNIST-format test images as 28x28 grey PNG files."""
    from tests.helpers.data import read_idx

    images = read_idx(root / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"test_{index:03d}.png"
        Image.fromarray(images[index].astype(np.uint8), "L").save(path)
        paths.append(path)
    return paths
