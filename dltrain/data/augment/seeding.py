"""One random stream per training batch, a pure function of (seed, epoch, rank, batch number).

Batch augmentations draw from it instead of torch's global RNG, so a batch looks the same
however the run got there: an uninterrupted run and one resumed mid-epoch draw alike.
"""

from __future__ import annotations

import numpy as np
import torch

_PRIME = 1_000_003
_STREAM_STEP = 0x9E3779B97F4A7C15  # far apart: streams of neighbouring batches never meet


def batch_seed(seed: int, epoch: int, rank: int, batch_number: int, stream: int = 0) -> int:
    """The seed of one batch's stream; ``stream`` tells independent streams of a batch apart."""
    key = ((seed * _PRIME + epoch) * _PRIME + rank) * _PRIME + batch_number
    return (key + stream * _STREAM_STEP) % (2**63 - 1)  # manual_seed takes an int64


def batch_generator(seed: int, device: torch.device) -> torch.Generator:
    """A torch generator on ``device``: the per-sample parameters are drawn where they are used."""
    return torch.Generator(device=device).manual_seed(seed)


def host_generator(seed: int) -> np.random.Generator:
    """A numpy generator for per-batch decisions read on the host (no device sync to read them)."""
    return np.random.default_rng(seed)
