"""The tutorials' two smallest models: softmax regression and the 1-hidden-layer regressor."""

from __future__ import annotations

import torch
from torch import nn

from dltrain.registry import MODELS


@MODELS.register("softmax_regression", task="classification")
class SoftmaxRegression(nn.Module):
    """Flatten, then one Linear layer to class logits.

    The tutorial ends with ``nn.Softmax``; it is left out because CrossEntropyLoss applies
    log-softmax itself (a softmax here would be applied twice and slow learning down).
    """

    def __init__(self, in_features: int = 784, num_classes: int = 10) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(x))


@MODELS.register("regression_mlp", task="regression")
class RegressionMLP(nn.Module):
    """The optimizer comparison's regressor: Linear(in, hidden) - ReLU - Linear(hidden, out)."""

    def __init__(self, in_features: int = 1, hidden: int = 20, out_features: int = 1) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.act = nn.ReLU()
        self.predict = nn.Linear(hidden, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict(self.act(self.hidden(torch.flatten(x, 1))))
