"""Shared fixtures and the markers' rules.

Markers (registered in pyproject.toml, ``--strict-markers``):

- ``subprocess``: the test starts a process; every test under tests/integration gets it here.
- ``slow``: the test takes over ~10 s; set on the test itself.
- ``gpu``: the test needs CUDA; skipped here, with the reason, where CUDA is not available.

Helpers live in tests/helpers; the names below are imported for tests that still take them
from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dltrain.testing.fake_data import write_fake_mnist
from tests.helpers.cli import TIMEOUT, dltrain, fast_train_args, read_jsonl
from tests.helpers.slurm import SlurmCluster, can_run_daemons

__all__ = ["TIMEOUT", "dltrain", "fast_train_args", "read_jsonl"]

INTEGRATION = Path(__file__).parent / "integration"


@pytest.fixture(scope="session")
def fmnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FashionMNIST IDX files in torchvision's raw layout (600 train / 200 test images)."""
    root = tmp_path_factory.mktemp("fmnist")
    write_fake_mnist(root, train_size=600, test_size=200)
    return root


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A one-node SLURM cluster (munged, slurmctld, slurmd; tests/helpers/slurm.py) for the
    session, all its state in a temporary folder; skipped, naming why, where it cannot run."""
    reason = can_run_daemons()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_skip = None
    for item in items:
        if INTEGRATION in Path(item.path).parents:
            item.add_marker(pytest.mark.subprocess)
        if item.get_closest_marker("gpu") is not None:
            if gpu_skip is None:
                import torch

                available = torch.cuda.is_available()
                gpu_skip = False if available else pytest.mark.skip(reason="needs CUDA")
            if gpu_skip:
                item.add_marker(gpu_skip)
