"""logger=[tensorboard] in process: per-group rates, wall-clock time as wall time, the tested
metrics and the HParams tab at the end, in the run's one log folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dltrain.loggers.base import LoggerRun
from dltrain.loggers.tensorboard_logger import TensorBoardLogger, add_model_graph, hparam_values
from tests.helpers.tensorboard import scalars

CONFIG = {
    "model": {"name": "mlp", "hidden": [8, 4], "dropout": None},
    "optimizer": {"name": "adam", "lr": 0.001, "amsgrad": False},
    "seed": 3,
    "logger": {"tensorboard": {"name": "tensorboard", "graph": False}},
}


def test_hparam_values_flatten_the_config_into_numbers_and_text():
    assert hparam_values(CONFIG) == {
        "model.name": "mlp",
        "model.hidden": "[8, 4]",
        "optimizer.name": "adam",
        "optimizer.lr": 0.001,
        "optimizer.amsgrad": "false",
        "seed": 3,
    }


def test_rates_per_group_once_per_step_and_time_as_wall_time(tmp_path: Path):
    logger = TensorBoardLogger(LoggerRun(tmp_path, CONFIG, resumed=False))
    rates = {"lr/group0": 0.1, "lr/group1": 0.5}
    logger.log({"epoch": 1, "step": 4, "lr": 0.1, "time": 1234.5, **rates}, "step")
    logger.log({"epoch": 1, "step": 4, "lr": 0.1, "epoch_seconds": 2.0, **rates}, "epoch")
    logger.log({"epoch": 2, "step": 8, "lr": 0.05, "time": 1240.0, "lr/group1": 0.25}, "step")
    logger.close()
    logged = scalars(tmp_path / "tensorboard")
    assert logged["lr/group1"] == [(4, 0.5), (8, 0.25)]
    assert logged["lr/group0"] == [(4, pytest.approx(0.1))]
    assert "step/time" not in logged and "epoch/time" not in logged
    assert logged["epoch/epoch_seconds"] == [(4, 2.0)]
    assert _events(tmp_path).Scalars("step/lr")[0].wall_time == 1234.5


def test_finish_writes_test_scalars_and_the_hparams_tab_into_the_same_folder(tmp_path: Path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    logger = TensorBoardLogger(LoggerRun(tmp_path, CONFIG, resumed=False))
    logger.log({"epoch": 1, "step": 9, "val/accuracy": 0.5}, "epoch")
    results = {"step": 9, "monitor": "val/accuracy", "val/accuracy": 0.6, "test/accuracy": 0.7,
               "test/accuracy_class_1": 0.9, "best_score": 0.5}  # fmt: skip
    logger.finish(results)
    logger.close()
    assert [p.name for p in (tmp_path / "tensorboard").iterdir() if p.is_dir()] == []
    logged = scalars(tmp_path / "tensorboard")
    assert logged["val/accuracy"] == [(9, 0.5)], "the epochs' curve keeps its own values"
    assert logged["best/val/accuracy"] == [(9, pytest.approx(0.6))]
    assert logged["test/accuracy"] == [(9, pytest.approx(0.7))]
    assert logged["test/accuracy_class_1"] == [(9, pytest.approx(0.9))]
    content = _events(tmp_path).PluginTagToContent("hparams")
    data = {k: plugin_data_pb2.HParamsPluginData.FromString(v) for k, v in content.items()}
    experiment = data["_hparams_/experiment"].experiment
    assert {info.name for info in experiment.hparam_infos} == set(hparam_values(CONFIG))
    metrics = {info.name.tag for info in experiment.metric_infos}
    assert metrics == {"best/val/accuracy", "test/accuracy"}
    started = data["_hparams_/session_start_info"].session_start_info.hparams
    assert started["optimizer.lr"].number_value == pytest.approx(0.001)
    assert started["model.name"].string_value == "mlp"
    assert data["_hparams_/session_end_info"].session_end_info.status == 1  # success


def test_a_graph_that_cannot_be_traced_is_a_warning(tmp_path: Path, caplog):
    class Refusing:
        def add_graph(self, *args, **kwargs):
            raise RuntimeError("cannot trace this")

    config = {"model": {"name": "mlp"}, "data": {"shape": [1, 28, 28]}}
    with caplog.at_level(logging.WARNING, logger="dltrain"):
        add_model_graph(Refusing(), config)
    assert "model graph could not be traced (cannot trace this)" in caplog.text


def _events(run_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return events
