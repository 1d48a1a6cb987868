"""A W&B offline run read back from its transaction log, RUN_DIR/wandb/offline-run-*/run-ID.wandb.

wandb 0.31 has no Python reader of that file any more (``wandb.sdk.internal.datastore`` is
gone; the Go service writes it), so this reads the format itself: a 7-byte header (":W&B",
magic 0xBEE1, version 0), then LevelDB-log blocks of 32 KiB whose chunks (CRC32, length, type
full/first/middle/last) carry W&B's own protobuf ``Record`` messages (``wandb.proto``), which
decode them. What ``wandb sync`` would upload is what these records say.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = 7
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What one offline W&B session recorded."""

    run_id: str = ""
    project: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # top-level key -> its value
    history: list[dict[str, Any]] = field(default_factory=list)  # rows, each with "_step"
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None


def offline_sessions(run_dir: Path) -> list[OfflineRun]:
    """Every offline session of the run folder's W&B run, oldest first."""
    folders = sorted((run_dir / "wandb").glob("offline-run-*"))
    return [read_offline_run(next(folder.glob("run-*.wandb"))) for folder in folders]


def read_offline_run(path: Path) -> OfflineRun:
    from wandb.proto import wandb_internal_pb2 as pb

    run = OfflineRun()
    for payload in _payloads(path.read_bytes()):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.run_id, run.project = record.run.run_id, record.run.project
            run.name, run.tags = record.run.display_name, list(record.run.tags)
            run.config.update(_items(record.run.config.update))
        elif kind == "config":
            run.config.update(_items(record.config.update))
        elif kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "summary":
            run.summary.update(_items(record.summary.update))
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def _items(items: Any) -> dict[str, Any]:
    """Config, history and summary items: a key (or nested key) and a JSON value."""
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def _payloads(data: bytes) -> list[bytes]:
    assert data[:4] == b":W&B", "not a W&B transaction log"
    payloads, pending, offset = [], b"", HEADER
    while offset + HEADER <= len(data):
        left_in_block = BLOCK - offset % BLOCK
        if left_in_block < HEADER:  # a block's tail too short for a header is padding
            offset += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[offset : offset + HEADER])
        chunk = data[offset + HEADER : offset + HEADER + length]
        offset += HEADER + length
        if kind == 0 and length == 0:
            continue  # zero padding
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            payloads.append(pending)
    return payloads
