"""Decoded data cached next to its source, so a CSV parse or a folder of JPEGs is paid once.

The cache file holds the uint8 images and labels with a fingerprint of the sources (path, size,
modification time of each) and of the decode settings: a changed file or setting decodes again.
Without write access to the data's folder the run goes on without a cache. ``data.cache=false``
turns it off.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from dltrain.train.checkpoint import save_atomic

log = logging.getLogger("dltrain")
Decoded = tuple[torch.Tensor, torch.Tensor]


def fingerprint(sources: Sequence[Path], settings: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(dict(settings), sort_keys=True).encode())
    for path in sources:
        stat = path.stat()
        digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cached_decode(
    cache: Path,
    sources: Sequence[Path],
    settings: Mapping[str, Any],
    decode: Callable[[], Decoded],
    enabled: bool = True,
) -> Decoded:
    """``decode()``'s images and labels, from ``cache`` when it was made from these sources."""
    if not enabled:
        return decode()
    key = fingerprint(sources, settings)
    stored = _read(cache)
    if stored is not None and stored.get("fingerprint") == key:
        return stored["images"], stored["labels"]
    images, labels = decode()
    try:
        save_atomic({"fingerprint": key, "images": images, "labels": labels}, cache)
        log.info(f"decoded data cached in {cache} (data.cache=false: no cache)")
    except OSError as err:
        log.info(f"no decode cache at {cache}: {err}")
    return images, labels


def _read(cache: Path) -> dict[str, Any] | None:
    if not cache.is_file():
        return None
    try:
        return torch.load(cache, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a torn or foreign cache file is decoded again
        return None
