"""``key=value`` arguments of the checkpoint verbs (plot, predict, export), from their YAML.

Each verb's options and defaults live in configs/<verb>.yaml, so ``dltrain <verb>`` errors list
them; ``data.*`` arguments are kept apart: they override the checkpoint's own data config
(``data.root=...`` where the files are on this machine).
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dltrain.config.compose import config_dir
from dltrain.errors import UserError
from dltrain.registry import did_you_mean


def parse_options(
    verb: str, args: list[str], positional: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """(options, data overrides); one bare argument fills ``positional`` (plot's RUN_DIR)."""
    options = OmegaConf.load(config_dir() / f"{verb}.yaml")
    OmegaConf.set_struct(options, True)
    known = list(options.keys())
    data_overrides: list[str] = []
    for arg in args:
        if "=" not in arg:
            if positional is None or not OmegaConf.is_missing(options, positional):
                raise UserError(
                    f"{verb} takes key=value arguments, got '{arg}'. Options: "
                    f"{', '.join(known)}, data.*."
                )
            options[positional] = arg
            continue
        key = arg.split("=", 1)[0]
        if key.startswith("data."):
            data_overrides.append(arg)
            continue
        try:
            options.merge_with_dotlist([arg])
        except OmegaConfBaseException as err:
            if key in known:
                raise UserError(f"bad value for {verb} option {arg}: {err}") from None
            raise UserError(
                f"{verb} has no option '{key}'.{did_you_mean(key, known)} Options: "
                f"{', '.join(known)}, data.*."
            ) from None
    for key in known:
        if OmegaConf.is_missing(options, key):
            raise UserError(f"{verb} needs {key}=... ({_usage(verb)}).")
    return OmegaConf.to_container(options), data_overrides


def _usage(verb: str) -> str:
    return {
        "plot": "dltrain plot RUN_DIR",
        "predict": "dltrain predict ckpt=RUN_DIR_OR_PT input=IMAGE_OR_FOLDER_OR_SPLIT",
        "export": "dltrain export ckpt=RUN_DIR_OR_PT format=torchscript|onnx|safetensors|"
        "exported_program",
    }.get(verb, f"dltrain {verb} --help")
