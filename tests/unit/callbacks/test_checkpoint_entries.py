"""What callbacks add to checkpoints: their states in last.pt, their weights in best.pt, and a
checkpoint from before callbacks existed still resumes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

from dltrain.callbacks.callback_list import build_callbacks
from dltrain.distributed.context import DistContext
from dltrain.train.checkpointer import Checkpointer
from dltrain.train.metrics import metrics_for
from dltrain.train.run_files import MetricsFile
from dltrain.train.state import TrainState


def _run(folder: Path, seed: int):
    """Model, optimizer and callbacks=[ema,early_stopping], saved by a Checkpointer."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    sections = {"ema": {"name": "ema", "decay": 0.5}, "stop": {"name": "early_stopping"}}
    callbacks = build_callbacks(sections, "val/loss", "min", "classification", True, 5)
    state = TrainState(metrics_for("classification", torch.device("cpu")))
    callbacks.on_fit_start(SimpleNamespace(model=model, monitor=callbacks.monitor), state)
    parts = {"model": model, "optimizer": optimizer, "callbacks": callbacks}
    metrics = MetricsFile(folder / "metrics.jsonl")
    saver = Checkpointer(
        folder / "checkpoints", DistContext(), parts, metrics, {"seed": 0}, 0,
        best_weights=callbacks.best_weights,
    )  # fmt: skip
    return model, optimizer, callbacks, state, saver


def test_last_keeps_the_states_and_best_keeps_the_ema_weights(tmp_path: Path):
    model, optimizer, callbacks, state, saver = _run(tmp_path, seed=0)
    for step in (1, 2, 3):
        optimizer.zero_grad()
        model(torch.randn(4, 3)).square().mean().backward()
        optimizer.step()
        state.progress.step = step
        callbacks.on_optimizer_step(None, state)
    callbacks.on_epoch_end(None, state, {"epoch": 1, "val_ema/loss": 0.5})
    saver.save(state, ("best.pt", "last.pt"))
    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    ema = callbacks.callbacks[0].averaged_module()
    assert torch.equal(last["model"]["weight"], model.weight)  # training continues from these
    assert torch.equal(best["model"]["weight"], ema.weight)
    assert not torch.equal(ema.weight, model.weight)
    stopper = {"best": 0.5, "best_epoch": 1, "wait": 0, "stopped_epoch": 0}
    assert last["callbacks"]["stop"] == stopper

    _, _, resumed, _, fresh = _run(tmp_path, seed=1)
    fresh.restore(tmp_path / "checkpoints" / "last.pt", torch.device("cpu"))
    assert torch.equal(resumed.callbacks[0].averaged_module().weight, ema.weight)
    assert resumed.callbacks[1].best == 0.5


def test_a_checkpoint_without_callbacks_resumes_with_fresh_ones(tmp_path: Path):
    model, _, _, state, saver = _run(tmp_path, seed=0)
    del saver.parts["callbacks"]  # as every checkpoint written before callbacks existed
    saver.save(state, ("last.pt",))
    assert "callbacks" not in torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    _, _, callbacks, _, fresh = _run(tmp_path, seed=1)
    fresh.restore(tmp_path / "checkpoints" / "last.pt", torch.device("cpu"))
    assert callbacks.callbacks[1].best_epoch == 0 and not callbacks.stop_training
    assert torch.equal(fresh.parts["model"].weight, model.weight)
