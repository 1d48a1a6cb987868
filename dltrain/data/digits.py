"""scikit-learn's 8x8 handwritten digits: real data that ships on disk with scikit-learn.

Like the MNIST family it offers segmentation targets too: the pen strokes, pixel intensity above
``data.mask_threshold`` (so ``model=unet data=digits`` runs offline on real images).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.nn import functional as F
from torch.utils.data import Subset

from dltrain.data.base import SPLIT_SEED, DataSplits, ImageTensorDataset, image_pipeline, split_off
from dltrain.data.checks import check_digits
from dltrain.registry import DATA


@DATA.register("digits", tasks={"classification", "segmentation"}, check=check_digits)
def digits(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    size = cfg.get("image_size", 8)
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    # images are already at image_size; the pipeline normalises and, for segmentation, masks
    pipeline = image_pipeline({**cfg, "image_size": None}, 1, ((0.5,), (0.5,)), task)
    dataset = ImageTensorDataset(images.clamp_(0, 1), torch.tensor(bunch.target), pipeline=pipeline)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = int(round(len(dataset) * cfg.get("test_split", 0.2)))
    test = Subset(dataset, order[:n_test].tolist())
    train, val = split_off(Subset(dataset, order[n_test:].tolist()), cfg.get("val_split", 0.0))
    return DataSplits(train=train, val=val, test=test, num_classes=10)
