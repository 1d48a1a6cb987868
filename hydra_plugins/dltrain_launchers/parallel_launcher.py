"""``hydra/launcher=parallel``: run ``n_jobs`` sweep jobs at once, one GPU each when there are
GPUs (CUDA_VISIBLE_DEVICES per job slot). The work is in dltrain.sweep.parallel; Hydra imports
this module at every start-up, so it only registers the config and the class."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


@dataclass
class ParallelLauncherConf:
    _target_: str = "hydra_plugins.dltrain_launchers.parallel_launcher.ParallelLauncher"
    n_jobs: int = 2  # jobs at once
    gpus: str | None = None  # e.g. "0,1"; null: CUDA_VISIBLE_DEVICES, else `nvidia-smi -L`


ConfigStore.instance().store(
    group="hydra/launcher", name="parallel", node=ParallelLauncherConf, provider="dltrain"
)


class ParallelLauncher(Launcher):
    def __init__(self, n_jobs: int = 2, gpus: Any = None) -> None:
        self.n_jobs = n_jobs
        self.gpus = gpus
        self.config: DictConfig | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from dltrain.sweep.gpus import visible_gpus
        from dltrain.sweep.parallel import run_parallel

        assert self.config is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        gpus = visible_gpus(self.gpus)
        where = f"GPUs {','.join(gpus)}" if gpus else "no GPU"
        log.info(f"Launching {len(job_overrides)} jobs, {self.n_jobs} at once ({where})")
        configs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            sweep_config = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides)
            )
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = idx
                sweep_config.hydra.job.num = idx
            configs.append(sweep_config)
        returns = run_parallel(self.hydra_context, self.task_function, configs, self.n_jobs, gpus)
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return returns
