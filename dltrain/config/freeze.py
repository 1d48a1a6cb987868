"""The frozen run config: resolved once in the parent, written once as RUN_DIR/config.yaml.

Workers, sweep jobs and resumed runs read that file; nothing downstream composes again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from dltrain.config.resume import check_resume_fits
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


def freeze(plain: dict[str, Any], run_dir: Path) -> None:
    """Write the resolved config that workers (and a re-run) read: config.yaml."""
    check_resume_fits(plain, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(plain)))


def load_frozen(run_dir: Path) -> dict[str, Any]:
    """RUN_DIR/config.yaml as the plain dict it was written from."""
    return OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
