"""Every shipped plugin passes the no-code check; every other route to code is refused."""

from __future__ import annotations

import pytest

from dltrain.config.compose import compose
from dltrain.config.interpolations import resolve_all
from dltrain.config.no_code import refuse_code
from dltrain.errors import UserError

SHIPPED = [
    [],
    ["hydra/launcher=basic"],
    ["hydra/launcher=parallel"],
    ["hydra/launcher=submitit_local"],
    ["hydra/launcher=submitit_slurm"],
    ["hydra/sweeper=basic"],
    ["hydra/sweeper=dltrain_optuna"],
    ["hparams_search=fmnist_optuna"],
    *[[f"hydra/job_logging={o}"] for o in ("default", "disabled", "none", "stdout")],
    *[[f"hydra/hydra_logging={o}"] for o in ("default", "disabled", "none", "hydra_debug")],
]


@pytest.mark.parametrize("overrides", SHIPPED, ids=lambda o: " ".join(o) or "defaults")
def test_every_shipped_plugin_and_logging_config_passes(overrides: list[str]):
    refuse_code(resolve_all(compose(overrides)))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("+hydra.callbacks.x._target_=builtins.open", "hydra.callbacks.x._target_"),
        ("hydra.sweeper._target_=os.system", "hydra.sweeper._target_"),
        ("+data._target_=os.system", "data._target_"),
        ("+loss.x._args_=[1]", "loss.x._args_"),
        ("+model.x='${oc.decode:\"[{_partial_: true}]\"}'", "model.x.0._partial_"),
        ("+hydra.callbacks.y=${hydra.callbacks.sweep_outcome}", "hydra.callbacks.y._target_"),
        ("imports=${oc.decode:'[os]'}", "imports"),
    ],
)
def test_code_outside_its_pinned_places_is_refused(override: str, key: str):
    with pytest.raises(UserError, match=f"'{key}'"):
        refuse_code(resolve_all(compose([override])))


def test_resolving_names_the_key_of_an_unresolvable_value():
    with pytest.raises(UserError, match="'trainer.max_epochs' = .* refers to itself"):
        resolve_all(compose(["trainer.max_epochs=${trainer.max_epochs}"]))
