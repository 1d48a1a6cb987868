"""Which GPUs this machine has, without importing torch (the sweep parent stays light)."""

from __future__ import annotations

import os
import subprocess
from typing import Any


def visible_gpus(setting: Any = None) -> list[str]:
    """GPU ids for job slots: the ``gpus`` setting ("0,1"), else CUDA_VISIBLE_DEVICES, else
    the GPUs ``nvidia-smi -L`` lists; [] when there are none."""
    if setting is not None and str(setting).strip() != "":
        return _split(str(setting))
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return _split(os.environ["CUDA_VISIBLE_DEVICES"])
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def _split(text: str) -> list[str]:
    return [g.strip() for g in text.split(",") if g.strip() and g.strip() != "-1"]
