"""Sweep pieces without a process: search spaces, GPU slots, report ordering."""

from __future__ import annotations

from pathlib import Path

import pytest

from dltrain.sweep.gpus import visible_gpus
from dltrain.sweep.report import Job, sort_jobs
from dltrain.sweep.space import as_override, search_space


def test_search_space_from_hydra_grammar():
    pytest.importorskip("optuna")
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    params = {"optimizer.lr": "tag(log, interval(1e-4, 1e-1))", "optimizer": "choice(adam,sgd)"}
    fixed, space = search_space(params, ["data=synthetic", "seed=range(1,4)", "optimizer=sgd"])
    assert fixed == ["data=synthetic", "optimizer=sgd"], "the command line wins over params"
    assert space["optimizer.lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert space["seed"] == IntDistribution(1, 3)
    assert "optimizer" not in space
    assert isinstance(
        search_space({"data.batch_size": "choice(32,64)"}, [])[1]["data.batch_size"],
        CategoricalDistribution,
    )
    assert as_override("optimizer.lr", 1e-9) == "optimizer.lr=1e-09"


def test_gpu_slots_come_from_the_setting_or_cuda_visible_devices(monkeypatch):
    assert visible_gpus("0, 2") == ["0", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    assert visible_gpus(None) == ["1", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus(None) == []


def test_report_order_best_first_then_pruned_then_failed():
    def make(name: str, status: str, value: float | None) -> Job:
        return Job(name, Path(name), status, "", value)

    jobs = [make("a", "failed", None), make("b", "completed", 0.2), make("c", "pruned", None)]
    jobs.append(make("d", "completed", 0.5))
    assert [j.name for j in sort_jobs(jobs, "max")] == ["d", "b", "c", "a"]
    assert [j.name for j in sort_jobs(jobs, "min")] == ["b", "d", "c", "a"]
