"""K Hydra jobs at once, each in a forked worker process with its own job slot.

A worker runs Hydra's run_job for one job (the task then starts the job's own fresh process),
so Hydra's per-job globals (HydraConfig, logging) never race between jobs. Worker slot k gets
GPU gpus[k % len(gpus)] through CUDA_VISIBLE_DEVICES, so K jobs on K GPUs do not share one.
Fork, not spawn: the workers inherit the composed job configs instead of pickling Hydra's
config loader.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_JOBS: list[tuple[Any, Any, Any]] = []  # (hydra_context, task_function, config), per launch


def run_parallel(
    hydra_context: Any, task_function: Any, configs: list[Any], n_jobs: int, gpus: list[str]
) -> list[Any]:
    """Hydra JobReturns of ``configs``, run ``n_jobs`` at a time, in job order."""
    _JOBS[:] = [(hydra_context, task_function, config) for config in configs]
    context = multiprocessing.get_context("fork")
    slots = context.Queue()
    workers = max(1, min(n_jobs, len(configs)))
    for slot in range(workers):
        slots.put(slot)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_take_slot, initargs=(slots, gpus)
    ) as pool:
        return list(pool.map(_run_one, range(len(configs))))


def _take_slot(slots: Any, gpus: list[str]) -> None:
    slot = slots.get()
    os.environ["DLTRAIN_JOB_SLOT"] = str(slot)
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]


def _run_one(index: int) -> Any:
    from hydra.core.utils import run_job

    hydra_context, task_function, config = _JOBS[index]
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
