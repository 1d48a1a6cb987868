"""AlexNet as in the tutorial, with a stem that also fits 28x28 single-channel images.

``stem: imagenet`` is the tutorial's network (11x11 stride-4 first conv), which needs large
input (data.image_size=224). ``stem: small`` swaps the first conv for a 3x3 stride-1 one and
2x2 pools so FashionMNIST runs at its own 28x28 size. An adaptive average pool before the
classifier keeps the fully connected sizes fixed whatever the input size.
"""

from __future__ import annotations

import torch
from torch import nn

from dltrain.registry import MODELS

STEMS = ("small", "imagenet")


@MODELS.register("alexnet", task="classification")
class AlexNet(nn.Module):
    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        stem: str = "small",
        hidden: int = 4096,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"model.stem must be one of {', '.join(STEMS)}, got '{stem}'")
        if stem == "imagenet":
            first = [nn.Conv2d(in_channels, 96, 11, 4), nn.ReLU(), nn.MaxPool2d(3, 2)]
            second_pool, pooled = nn.MaxPool2d(3, 2), 5
        else:
            first = [nn.Conv2d(in_channels, 96, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2)]
            second_pool, pooled = nn.MaxPool2d(2), 3
        self.conv = nn.Sequential(
            *first,
            nn.Conv2d(96, 256, 5, 1, 2),
            nn.ReLU(),
            second_pool,
            nn.Conv2d(256, 384, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(384, 384, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, 1, 1),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
        )
        self.pool = nn.AdaptiveAvgPool2d(pooled)
        self.fc = nn.Sequential(
            nn.Linear(256 * pooled * pooled, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.conv(x)), 1))
