"""lr_monitor: one lr/group<N> per parameter group, read on the host."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from dltrain.callbacks.lr_monitor import LRMonitor


def test_every_parameter_group_is_logged():
    body, head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(
        [{"params": body.parameters()}, {"params": head.parameters(), "lr": 0.5}], lr=0.1
    )
    monitor = LRMonitor()
    assert monitor.log_values() == {}  # before the run starts
    monitor.on_fit_start(SimpleNamespace(step=SimpleNamespace(optimizer=optimizer)), None)
    assert monitor.log_values() == {"lr/group0": 0.1, "lr/group1": 0.5}
    optimizer.param_groups[1]["lr"] = 0.25  # a scheduler's change shows at the next event
    assert monitor.log_values()["lr/group1"] == 0.25
