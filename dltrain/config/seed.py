"""``seed=null``: a random seed, chosen once per run where its config is frozen.

The parent process chooses it before config.yaml is written (config/freeze.py), so the file
holds it: every DDP rank and torchrun restart reads the same number, and the run can be
repeated exactly with ``seed=N``. A run folder that already holds a run keeps that run's seed
(a resumed run continues with the seed it started with); each sweep job, a folder of its own,
chooses its own. Nothing here imports torch.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

# Seeds are drawn below 2**31: every generator dltrain seeds takes them (numpy's below 2**32,
# also after adding the rank), and they are short enough to type back.
SEED_LIMIT = 2**31


def choose_seed(plain: dict[str, Any], saved: Mapping[str, Any] | None, run_dir: Path) -> None:
    """Replace ``plain["seed"]`` = None with the seed the run keeps or a new random one.

    ``saved``: the config of the checkpoint a resumed run continues (None: a fresh run).
    """
    if plain.get("seed") is not None:
        return
    kept = _kept_seed(saved, run_dir)
    if kept is not None:
        plain["seed"] = kept
        print(f"dltrain: seed=null: keeping the seed of the run in {run_dir}, {kept}", flush=True)
        return
    plain["seed"] = secrets.randbelow(SEED_LIMIT)
    seed = plain["seed"]
    print(f"dltrain: seed=null: chose seed {seed}; repeat with seed={seed}", flush=True)


def _kept_seed(saved: Mapping[str, Any] | None, run_dir: Path) -> int | None:
    """The seed of the checkpoint a resume continues, else of the folder's config.yaml (a run
    that stopped before its first checkpoint starts again with it)."""
    if saved is not None and isinstance(saved.get("seed"), int):
        return saved["seed"]
    frozen = run_dir / "config.yaml"
    if not frozen.is_file():
        return None
    try:
        seed = OmegaConf.load(frozen).get("seed")
    except Exception:  # noqa: BLE001 - an unreadable file holds no seed to keep
        return None
    return seed if isinstance(seed, int) else None
