"""Small helpers for the data tests: a data set's resolved config, raw bytes of IDX files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dltrain.config.compose import compose
from dltrain.config.freeze import to_plain


def data_cfg(name: str, *overrides: str) -> dict[str, Any]:
    """The resolved ``data`` section of ``data=<name>`` with overrides, as the runner sees it."""
    return to_plain(compose([f"data={name}", *overrides]))["data"]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file back as an array (header: 4 magic bytes, then ndim big-endian uint32 dims)."""
    raw = path.read_bytes()
    ndim = raw[3]
    dims = np.frombuffer(raw[4 : 4 + 4 * ndim], dtype=">u4")
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(dims).copy()
