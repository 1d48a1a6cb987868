"""Is a resumed run the same run? Bitwise comparison of two run folders.

One definition for the resume tests, scripts/chaos.py and scripts/gpu_check.py: the weights
and optimizer state of a checkpoint, the position in the run, metrics.jsonl without its timing
fields, and results.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

TIMING = {"images_per_sec", "epoch_seconds", "time"}  # wall-clock fields: differ run to run


def checkpoint_differences(a: Path, b: Path) -> list[str]:
    """What differs between two checkpoint files: weights, optimizer state, position."""
    sa = torch.load(a, weights_only=True, map_location="cpu")
    sb = torch.load(b, weights_only=True, map_location="cpu")
    found = [f"weights {k}" for k in sa["model"] if not torch.equal(sa["model"][k], sb["model"][k])]
    for index, state in sa["optimizer"]["state"].items():
        for name, value in state.items():
            other = sb["optimizer"]["state"][index][name]
            if not torch.equal(torch.as_tensor(value), torch.as_tensor(other)):
                found.append(f"optimizer state {index}.{name}")
    if sa.get("progress") != sb.get("progress"):
        found.append("position (epoch/batch/step)")
    return found


def events(run: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock fields."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k not in TIMING} for x in lines]


def run_differences(a: Path, b: Path) -> list[str]:
    """What differs between two run folders: last.pt, metrics.jsonl, results.json."""
    found = checkpoint_differences(a / "checkpoints" / "last.pt", b / "checkpoints" / "last.pt")
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
