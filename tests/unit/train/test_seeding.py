"""capture_rng / restore_rng: every RNG continues exactly, through a weights-only save."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from dltrain.train.seeding import capture_rng, restore_rng, seed_everything


def _draws():
    return random.random(), float(np.random.rand()), torch.rand(4).tolist()


def test_capture_then_restore_repeats_the_draws():
    seed_everything(3)
    _draws()
    state = capture_rng()
    first = _draws()
    _draws()
    restore_rng(state)
    assert _draws() == first


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path: Path):
    seed_everything(11)
    state = capture_rng()
    first = _draws()
    torch.save({"rng": [state]}, tmp_path / "rng.pt")
    seed_everything(99)
    loaded = torch.load(tmp_path / "rng.pt", weights_only=True)["rng"][0]
    restore_rng(loaded)
    assert _draws() == first


def test_seed_everything_is_deterministic():
    seed_everything(5)
    first = _draws()
    seed_everything(5)
    assert _draws() == first
    seed_everything(6)
    assert _draws() != first


@pytest.mark.gpu
def test_cuda_rng_round_trip():
    torch.cuda.manual_seed_all(7)
    state = capture_rng()
    assert len(state["cuda"]) == torch.cuda.device_count()
    first = torch.rand(4, device="cuda").tolist()
    torch.rand(4, device="cuda")
    restore_rng(state)
    assert torch.rand(4, device="cuda").tolist() == first
