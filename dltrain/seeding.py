"""Seeding and determinism: one ``seed`` drives python, numpy, torch and DataLoader workers."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def set_deterministic(enabled: bool) -> None:
    """Deterministic algorithms (error on ops that have none) and no cuDNN autotuning."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled and torch.cuda.is_available()


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: derive python/numpy seeds from the worker's torch seed.

    torch gives each worker base_seed + worker_id, and base_seed changes every epoch, so the
    augmentation streams differ across workers and epochs (unlike seeding numpy from a copy of
    the parent's numpy state, which repeats every epoch).
    """
    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)


def loader_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
