"""Hydra override strings of a sweep, and the optional packages the sweep they ask for needs.

Config-free (no composition here), so the Optuna sweeper plugin and the search space can use
it without depending on the config package that registers the plugin.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from dltrain.errors import UserError


def parse(overrides: list[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = []
    for override in overrides:
        try:
            parsed += parser.parse_overrides([override])
        except Exception as err:  # noqa: BLE001 - Hydra raises several parse error types
            raise UserError(parse_error_message(override, err)) from None
    return parsed


def parse_error_message(override: str, err: Exception) -> str:
    """What is wrong with an override Hydra's grammar refused, and how to write it."""
    key, _, value = override.partition("=")
    if not value.isascii():
        return (
            f"cannot parse the override {override}: Hydra's grammar takes only ASCII in an "
            f"unquoted value. Quote the value: {key}='{value}' (in the shell: \"{key}='{value}'\")."
        )
    reason = str(err).strip().splitlines()[0]
    return (
        f"cannot parse the override {override}: {reason}. Write it as key=value; quote a value "
        f"with spaces or special characters: {key}='...' (Hydra's override grammar: "
        "https://hydra.cc/docs/advanced/override_grammar/basic)."
    )


def require_optuna() -> None:
    if importlib.util.find_spec("optuna") is None:
        raise UserError(
            "this search uses dltrain's Optuna sweeper, but optuna is not installed. "
            "Install the extra: pip install 'dltrain[sweep]'."
        )


def require_launcher(parsed: list[Any]) -> None:
    """hydra/launcher=submitit_* needs hydra-submitit-launcher: say which extra installs it."""
    for o in parsed:
        wants = o.key_or_group == "hydra/launcher" and str(o.value()).startswith("submitit")
        if wants and importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
            raise UserError(
                f"{o.input_line} needs hydra-submitit-launcher, which is not installed. "
                "Install the extra: pip install 'dltrain[slurm]'."
            )
