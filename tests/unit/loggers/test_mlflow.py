"""logger=[mlflow] without a server: the names and values it sends, the background sender, the
experiment name from the experiment= preset, and the preflight refusals (in this process)."""

from __future__ import annotations

import copy
import importlib.util
import logging
import threading
from collections.abc import Iterator

import pytest
from omegaconf import OmegaConf, open_dict

from dltrain.config.compose import compose
from dltrain.loggers.mlflow_values import (
    Point,
    event_points,
    flat_params,
    mlflow_name,
    result_points,
)
from dltrain.loggers.sender import BackgroundSender
from tests.helpers.contract import assert_train_refused


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """The warnings dltrain's logger gives while the test runs."""
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("dltrain")
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def test_step_events_go_under_step_and_epoch_records_keep_their_names():
    step_event = {
        "epoch": 1, "step": 4, "train/loss": 0.5, "lr": 1e-3, "images_per_sec": 100,
        "time": 1700000000.25, "grad_norm": None, "lr/group1": 0.01,
    }  # fmt: skip
    assert event_points(step_event, "step") == [
        Point("step/train/loss", 0.5, 1700000000250, 4),
        Point("step/lr", 1e-3, 1700000000250, 4),
        Point("step/images_per_sec", 100.0, 1700000000250, 4),
        Point("step/lr/group1", 0.01, 1700000000250, 4),
    ]
    record = {"epoch": 1, "step": 9, "train/loss": 0.4, "val/accuracy": 0.5, "lr": 1e-3,
              "skipped_steps": 2, "odd": True, "bad": float("nan")}  # fmt: skip
    names = [(p.key, p.value, p.step) for p in event_points(record, "epoch")]
    assert names == [
        ("epoch", 1.0, 9), ("train/loss", 0.4, 9), ("val/accuracy", 0.5, 9), ("lr", 1e-3, 9),
        ("skipped_steps", 2.0, 9),
    ]  # fmt: skip


def test_results_log_test_metrics_as_they_are_and_the_rest_under_results():
    results = {
        "epoch": 2, "step": 18, "monitor": "val/accuracy", "best_epoch": 2, "best_score": 0.5,
        "val/accuracy": 0.5, "test/loss": 1.25, "confusion_matrix": {"test": [[1]]},
    }  # fmt: skip
    assert [(p.key, p.value, p.step) for p in result_points(results)] == [
        ("results/best_epoch", 2.0, 18), ("results/best_score", 0.5, 18),
        ("results/val/accuracy", 0.5, 18), ("test/loss", 1.25, 18),
    ]  # fmt: skip


def test_the_config_flattens_to_dotted_params_cut_to_500_characters():
    config = {
        "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999]},
        "callbacks": {},
        "trainer": {"grad_clip": None, "compile": False},
        "data": {"train_transforms": [{"name": "x" * 600}]},
    }
    params = flat_params(config)
    assert params["optimizer.name"] == "adam" and params["optimizer.lr"] == "0.001"
    assert params["optimizer.betas"] == "[0.9, 0.999]" and params["callbacks"] == "{}"
    assert params["trainer.grad_clip"] == "null" and params["trainer.compile"] == "false"
    long = params["data.train_transforms"]
    assert len(long) == 500 and long.startswith('[{"name": "xxx') and long.endswith("...")


@pytest.mark.parametrize(
    ("key", "name"),
    [("val/accuracy", "val/accuracy"), ("a//b", "a/b"), ("/x", "x"), ("top:5", "top_5"),
     ("../up", "__/up"), ("", "_")],
)  # fmt: skip
def test_names_are_ones_every_mlflow_server_takes(key, name):
    assert mlflow_name(key) == name


def test_the_sender_batches_what_waits_and_keeps_jobs_in_order():
    sent: list = []
    go = threading.Event()
    sender = BackgroundSender("X", lambda items: sent.append(list(items)), batch_size=3)
    sender.call(go.wait)  # the thread waits: items pile up
    for item in range(5):
        sender.add(item)
    sender.call(lambda: sent.append("job"))
    sender.add(5)
    go.set()
    assert sender.close(timeout=30)
    assert sent == [[0, 1, 2], [3, 4], "job", [5]]


def test_a_failure_is_one_warning_and_nothing_more_is_sent(warnings):
    tried: list = []

    def refuse(items: list) -> None:
        tried.append(items)
        raise ConnectionError("Connection refused\nsecond line")

    go = threading.Event()
    sender = BackgroundSender("MLflow at http://nowhere", refuse, batch_size=10)
    sender.call(go.wait)
    sender.add(1)
    sender.call(lambda: tried.append("job"))
    sender.add(2)
    go.set()
    assert not sender.close(timeout=30)
    assert tried == [[1]]
    assert warnings == [
        "MLflow at http://nowhere: ConnectionError: Connection refused. Nothing more is sent to "
        "it in this run; the run goes on (metrics.jsonl has every value)."
    ]


def test_a_full_queue_drops_with_one_warning_and_close_gives_up_after_its_timeout(warnings):
    go = threading.Event()
    sender = BackgroundSender("slow", lambda items: None, batch_size=10, capacity=2)
    sender.call(go.wait)  # a server that does not answer
    while sender._queue.qsize():  # the thread has taken the job and waits in it
        pass
    for item in range(4):
        sender.add(item)  # never blocks: two wait, two are dropped
    assert sender.dropped == 2
    assert not sender.close(timeout=0.2)
    go.set()
    assert len(warnings) == 2
    assert warnings[0].startswith("slow is not keeping up: values are dropped")
    assert warnings[1].startswith("slow did not take the run's last 2 values or files within 0.2 s")


def test_the_experiment_name_is_the_experiment_preset_resolved_once():
    def experiment_name(overrides: list[str]) -> str | None:
        cfg = compose(["logger=[mlflow]", *overrides])
        return OmegaConf.to_container(cfg.logger, resolve=True)["mlflow"]["experiment_name"]

    assert experiment_name(["experiment=digits"]) == "digits"
    assert experiment_name([]) is None  # the logger then names it "dltrain"
    assert experiment_name(["logger.mlflow.experiment_name=mine"]) == "mine"


def test_inside_hydras_job_the_preset_comes_from_hydras_runtime_config():
    from hydra.core.hydra_config import HydraConfig

    cfg = compose(["logger=[mlflow]", "experiment=digits"])
    job = copy.deepcopy(cfg)
    with open_dict(job):
        del job["hydra"]  # as Hydra hands the config to the task function
    HydraConfig.instance().set_config(cfg)
    try:
        assert OmegaConf.to_container(job.logger, resolve=True)["mlflow"]["experiment_name"] == (
            "digits"
        )
    finally:
        HydraConfig.instance().cfg = None


def test_without_mlflow_installed_logger_mlflow_is_exit_2_naming_the_pip_command(
    fmnist_root, tmp_path, monkeypatch
):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "mlflow" else real(n, *a)
    )
    assert_train_refused(
        fmnist_root, tmp_path, ["logger=[mlflow]"],
        ["logger=mlflow needs the 'mlflow' package", "pip install 'dltrain[mlflow]'"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("override", "phrase"),
    [
        ("logger.mlflow.tags={team: [a, b]}", "logger.mlflow.tags must map names to values"),
        ("+logger.mlflow.trackng_uri=x", "Did you mean 'tracking_uri'?"),
        ("logger.mlflow.close_timeout=0", "logger.mlflow.close_timeout must be seconds > 0"),
        ("logger.mlflow.run_name=''", "logger.mlflow.run_name must be text or null"),
    ],
)
def test_bad_mlflow_options_are_exit_2_before_anything_is_written(
    override, phrase, fmnist_root, tmp_path
):
    assert_train_refused(fmnist_root, tmp_path, ["logger=[mlflow]", override], [phrase])


def test_a_sweep_report_leaves_the_local_stores_artifacts_out(tmp_path):
    from dltrain.sweep.report import collect

    for job in ("0", "1"):
        (tmp_path / job).mkdir()
        (tmp_path / job / "config.yaml").write_text("seed: 1\n")
    copies = tmp_path / "mlartifacts" / "0123abcd" / "artifacts"  # logger=[mlflow]'s uploads
    copies.mkdir(parents=True)
    (copies / "config.yaml").write_text("seed: 1\n")
    assert [job.name for job in collect(tmp_path)] == ["0", "1"]
