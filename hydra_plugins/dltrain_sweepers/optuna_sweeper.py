"""``hydra/sweeper=dltrain_optuna``: an Optuna search on current Optuna, with pruning.

Hydra imports every module under hydra_plugins at start-up, so this one registers its config
and imports Optuna only when a search runs. The study lives in a storage (default: sqlite
optuna.db in the sweep folder), so re-running the same command continues the study. Each
trial is a dltrain sweep job (a fresh process); it reports each epoch's monitored value
through the same storage and stops when the pruner says so (dltrain.sweep.pruning).
"""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


@dataclass
class SamplerConf:
    seed: int | None = None  # TPE's seed: the same seed proposes the same trials
    n_startup_trials: int = 10  # random trials before TPE models the results


@dataclass
class PrunerConf:
    name: str = "median"  # median | none
    n_startup_trials: int = 5  # no pruning until this many trials have finished
    n_warmup_steps: int = 0  # no pruning before this epoch of a trial


@dataclass
class DltrainOptunaConf:
    _target_: str = "hydra_plugins.dltrain_sweepers.optuna_sweeper.DltrainOptunaSweeper"
    n_trials: int = 20  # trials in the study in all (a re-run only runs the missing ones)
    n_jobs: int = 1  # trials launched at once (use with hydra/launcher=parallel)
    direction: str = "auto"  # auto: from checkpoint.mode, resolved as the runner does
    storage: str | None = None  # null: sqlite:///SWEEP_DIR/optuna.db
    study_name: str = "dltrain"
    sampler: SamplerConf = field(default_factory=SamplerConf)
    pruner: PrunerConf = field(default_factory=PrunerConf)
    params: dict[str, str] = field(default_factory=dict)  # key: choice(...)/interval(...)/...
    enqueue: list[dict[str, Any]] = field(default_factory=list)  # trials to run first


ConfigStore.instance().store(
    group="hydra/sweeper", name="dltrain_optuna", node=DltrainOptunaConf, provider="dltrain"
)


class DltrainOptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.config: DictConfig | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from dltrain.sweep.study import run_study

        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        s = self.settings
        return run_study(
            config=self.config,
            launch=self.launcher.launch,
            arguments=arguments,
            sweep_dir=sweep_dir,
            n_trials=int(s["n_trials"]),
            n_jobs=max(1, int(s["n_jobs"])),
            direction=str(s["direction"]),
            storage=s["storage"] or f"sqlite:///{sweep_dir.resolve() / 'optuna.db'}",
            study_name=str(s["study_name"]),
            sampler=OmegaConf.to_container(OmegaConf.create(s["sampler"])),
            pruner=OmegaConf.to_container(OmegaConf.create(s["pruner"])),
            params=dict(s["params"] or {}),
            enqueue=OmegaConf.to_container(OmegaConf.create(list(s["enqueue"] or []))),
            environ=os.environ,
        )
