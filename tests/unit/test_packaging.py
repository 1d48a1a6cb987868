"""The wheel must carry every package and the configs, or a non-editable install cannot train."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def _declared() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_under_dltrain_is_declared() -> None:
    found = {"dltrain", *(f"dltrain.{p}" for p in find_packages(str(ROOT / "dltrain")))}
    plugins = {f"hydra_plugins.{p}" for p in find_packages(str(ROOT / "hydra_plugins"))}
    assert plugins, "Hydra finds dltrain's sweeper and launcher under hydra_plugins/"
    assert found | plugins | {"dltrain.configs"} == set(_declared()["packages"])


def test_configs_are_package_data_from_the_top_level_folder() -> None:
    setuptools = _declared()
    assert setuptools["package-dir"]["dltrain.configs"] == "configs"
    assert "**/*.yaml" in setuptools["package-data"]["dltrain.configs"]
    assert (ROOT / "configs" / "__init__.py").exists()
