"""The tutorials' small classifiers, written so they run as the tutorials intended.

Each flattens with ``torch.flatten`` (``.view`` breaks under channels_last) and returns logits:
CrossEntropyLoss applies log-softmax itself, so a softmax layer here would be applied twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from dltrain.registry import MODELS


@MODELS.register("fmnist_cnn", task="classification")
class FashionCNN(nn.Module):
    """Conv(32,5)-ReLU-MaxPool-Dropout, Conv(64,5)-ReLU-MaxPool-Dropout, 1024-512-classes."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, dropout: float = 0.3) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5),
            nn.ReLU(),
            nn.MaxPool2d(2, stride=2),
            nn.Dropout(dropout),
            nn.Conv2d(32, 64, 5),
            nn.ReLU(),
            nn.MaxPool2d(2, stride=2),
            nn.Dropout(dropout),
        )
        self.fc = nn.Sequential(nn.Linear(64 * 4 * 4, 512), nn.ReLU(), nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (28, 28):
            raise ValueError(f"fmnist_cnn expects 28x28 images, got {tuple(x.shape[-2:])}")
        return self.fc(torch.flatten(self.conv(x), 1))


@MODELS.register("mlp", task="classification")
class MLP(nn.Module):
    """Flatten, then Linear-ReLU(-Dropout) per hidden width, then Linear to classes."""

    def __init__(
        self,
        in_features: int = 784,
        hidden: Sequence[int] = (256,),
        num_classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@MODELS.register("lenet", task="classification")
class LeNet(nn.Module):
    """LeNet-5 as in the tutorial (32x32 input); smaller inputs are zero-padded to 32x32."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if height > 32 or width > 32:
            raise ValueError(f"lenet expects at most 32x32 images, got {height}x{width}")
        if (height, width) != (32, 32):
            top, left = (32 - height) // 2, (32 - width) // 2
            x = F.pad(x, (left, 32 - width - left, top, 32 - height - top))
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
