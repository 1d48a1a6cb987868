"""Is a resumed run the same run? Bitwise comparison of two run folders.

One definition for the resume tests, scripts/chaos.py and scripts/gpu_check.py: the weights
and optimizer state of a checkpoint, the callbacks' states, the position in the run,
metrics.jsonl without its timing fields, and results.json.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

TIMING = {"images_per_sec", "epoch_seconds", "time"}  # wall-clock fields: differ run to run


def checkpoint_differences(a: Path, b: Path) -> list[str]:
    """What differs between two checkpoints (files, or distributed=fsdp's sharded folders):
    weights, optimizer state, position."""
    sa, sb = _read(a), _read(b)
    found = [f"weights {k}" for k in sa["model"] if not torch.equal(sa["model"][k], sb["model"][k])]
    for index, state in sa["optimizer"]["state"].items():
        for name, value in state.items():
            other = sb["optimizer"]["state"][index][name]
            if not torch.equal(torch.as_tensor(value), torch.as_tensor(other)):
                found.append(f"optimizer state {index}.{name}")
    if sa.get("progress") != sb.get("progress"):
        found.append("position (epoch/batch/step)")
    found += [f"callbacks.{k} state" for k in _keys(sa, sb) if not _same(_of(sa, k), _of(sb, k))]
    return found


def _read(path: Path) -> dict[str, Any]:
    if path.is_dir():
        from dltrain.train.sharded_checkpointer import read_sharded

        return read_sharded(path)
    return torch.load(path, weights_only=True, map_location="cpu")


def last_checkpoint(run: Path) -> Path:
    """A run folder's checkpoints/last.pt, or its last.dcp folder (distributed=fsdp)."""
    sharded = run / "checkpoints" / "last.dcp"
    return sharded if sharded.is_dir() else run / "checkpoints" / "last.pt"


def _keys(sa: Mapping[str, Any], sb: Mapping[str, Any]) -> list[str]:
    return sorted({*sa.get("callbacks", {}), *sb.get("callbacks", {})})


def _of(state: Mapping[str, Any], key: str) -> Any:
    return state.get("callbacks", {}).get(key)


def _same(a: Any, b: Any) -> bool:
    """Nested checkpoint entries equal: tensors bitwise, NaN equal to NaN."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def events(run: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock fields."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k not in TIMING} for x in lines]


def run_differences(a: Path, b: Path) -> list[str]:
    """What differs between two run folders: last.pt, metrics.jsonl, results.json."""
    found = checkpoint_differences(last_checkpoint(a), last_checkpoint(b))
    if events(a) != events(b):
        found.append("metrics.jsonl")
    missing = [str(run) for run in (a, b) if not (run / "results.json").is_file()]
    if missing:
        found.append(f"results.json missing in {', '.join(missing)}")
    elif _results(a) != _results(b):
        found.append("results.json")
    return found


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())
