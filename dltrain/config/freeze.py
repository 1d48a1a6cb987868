"""The frozen run config: resolved once in the parent, written once as RUN_DIR/config.yaml.

Workers, sweep jobs and resumed runs read that file; nothing downstream composes again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from dltrain.config.resume import check_resume_fits, saved_config
from dltrain.config.seed import choose_seed
from dltrain.train.run_files import write_text_atomic


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    """Resolve every interpolation once and drop Hydra's own node: the frozen run config."""
    return {
        key: OmegaConf.to_container(cfg[key], resolve=True, throw_on_missing=True)
        if isinstance(cfg[key], DictConfig | ListConfig)
        else cfg[key]
        for key in cfg
        if key != "hydra"
    }


def freeze(plain: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Write the resolved config that workers (and a re-run) read: config.yaml.

    ``seed=null`` becomes a number here, in ``plain`` itself (config/seed.py), so the file, and
    every process that reads it, holds the seed the run uses. Returns ``plain``.
    """
    found = saved_config(plain, run_dir)  # the checkpoint a resumed run continues, read once
    choose_seed(plain, found[0] if found else None, run_dir)
    check_resume_fits(plain, found)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(plain)))
    return plain


def load_frozen(run_dir: Path) -> dict[str, Any]:
    """RUN_DIR/config.yaml as the plain dict it was written from."""
    return OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
