"""dltrain's Python API in this process: examples/train_and_predict.py trains a tiny digits
run with ``dltrain.train``, loads it and predicts; the tests hold it to ``dltrain train``'s run
folder, ``dltrain predict``'s table and the exit-2 contract."""

from __future__ import annotations

import csv
import importlib.util
import inspect
import json
import logging
import typing
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

import dltrain
from dltrain.api.overrides import as_overrides
from dltrain.config.freeze import load_frozen
from dltrain.errors import UserError
from dltrain.sweep.overrides import parse
from dltrain.train.run_files import RunLogFile
from tests.helpers.cli import dltrain_in_process
from tests.helpers.contract import tree_state

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "train_and_predict.py"
OVERRIDES = {"data": "digits", "model": "lenet", "trainer.max_epochs": 1}  # the example's


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, typing.Any, typing.Any]:
    """The README's example run for one epoch: (work folder, its results, its predictions)."""
    spec = importlib.util.spec_from_file_location("train_and_predict", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    work = tmp_path_factory.mktemp("api")
    results, predictions = module.main(work, epochs=1)
    return work, results, predictions


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_train_returns_results_json_and_writes_the_run_folder(example):
    work, results, _ = example
    run = work / "run"
    assert results.run_dir == run
    assert results == json.loads((run / "results.json").read_text())
    assert 0.0 <= results["test/accuracy"] <= 1.0
    assert {"config.yaml", "metrics.jsonl", "train.log", "checkpoints"} <= {
        p.name for p in run.iterdir()
    }
    assert not (run / ".dltrain.lock").exists()  # released when the run ended
    handlers = logging.getLogger("dltrain").handlers
    assert not any(isinstance(h, RunLogFile) for h in handlers)  # train.log closed


def test_compose_is_the_config_the_run_froze(example):
    work, _, _ = example
    cfg = dltrain.compose(OVERRIDES)
    assert cfg.model.name == "lenet" and cfg.loss.name == "cross_entropy"  # auto resolved
    assert "hydra" not in cfg
    assert OmegaConf.to_container(cfg) == load_frozen(work / "run")
    with pytest.raises(UserError, match="Did you mean 'trainer.max_epochs'") as err:
        dltrain.compose({"trainer": {"max_epoch": 3}})
    assert err.value.exit_code == 2


def test_load_predict_equals_dltrain_predict(example, tmp_path: Path):
    work, _, from_files = example
    run = work / "run"
    for source, predictions in (
        ("digits", from_files),
        ("test", dltrain.load(run).predict("test")),
    ):
        given = str(work / source) if source == "digits" else source
        result = dltrain_in_process("predict", str(run), f"input={given}", f"output={tmp_path}")
        assert result.returncode == 0, result.stderr
        rows = read_csv(tmp_path / "predictions.csv")
        assert [r["file"] for r in rows] == predictions.names
        assert [int(r["class"]) for r in rows] == predictions.classes.tolist()
        assert [r["label"] for r in rows] == predictions.labels
        top = predictions.probabilities.max(axis=1)
        assert [float(r["probability"]) for r in rows] == [round(float(p), 6) for p in top]
    assert [int(r["target"]) for r in rows] == predictions.targets.tolist()


def test_load_gives_config_class_names_normalisation(example):
    work, _, _ = example
    model = dltrain.load(work / "run")
    assert model.checkpoint == work / "run" / "checkpoints" / "best.pt"
    assert model.task == "classification" and model.config.model.name == "lenet"
    assert model.class_names == [str(i) for i in range(10)]
    mean, std = model.normalisation
    assert mean.flatten().tolist() == [0.5] and std.flatten().tolist() == [0.5]
    one = model.predict(np.zeros((1, 28, 28), dtype=np.uint8))  # one sample, 0..255
    assert one.names == ["0"] and one.probabilities.shape == (1, 10)
    with pytest.raises(UserError, match=r"N x 1 x 28 x 28") as err:
        model.predict(np.zeros((2, 3, 28, 28), dtype=np.float32))
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model": "resnt"}, "Did you mean 'lenet'"),
        (["trainer.max_epoch=3"], "Did you mean 'trainer.max_epochs'"),
        (["-m", "optimizer=sgd,adam"], "sweep with `dltrain train -m"),
        (["hydra.run.dir=elsewhere"], "the run folder is given twice"),
    ],
)
def test_bad_input_raises_exit_code_2_and_writes_nothing(tmp_path: Path, overrides, message):
    before = tree_state(tmp_path)
    with pytest.raises(UserError, match=message.replace("(", r"\(")) as err:
        dltrain.train(overrides, run_dir=tmp_path / "run")
    assert err.value.exit_code == 2
    assert tree_state(tmp_path) == before


def test_dict_overrides_are_the_command_line():
    overrides = as_overrides(
        {
            "model": "lenet",
            "optimizer": {"lr": 0.001, "betas": [0.9, 0.99]},
            "data.train_transforms": [{"name": "random_crop", "size": 28, "padding": 4}],
            "resume": None,
            "deterministic": True,
            "data.root": "/tmp/my data, v2",
            "model.arch": "true",
        }
    )
    assert overrides[:4] == [
        "model=lenet",
        "optimizer.lr=0.001",
        "optimizer.betas=[0.9,0.99]",
        "data.train_transforms=[{name: random_crop, size: 28, padding: 4}]",
    ]
    values = {o.key_or_group: o.value() for o in parse(overrides)}
    assert values["data.train_transforms"] == [{"name": "random_crop", "size": 28, "padding": 4}]
    assert values["resume"] is None and values["deterministic"] is True
    assert values["data.root"] == "/tmp/my data, v2" and values["model.arch"] == "true"
    assert as_overrides(["model=lenet"]) == ["model=lenet"]
    with pytest.raises(UserError, match="not one string"):
        as_overrides("model=lenet")


def test_public_names_are_typed_and_documented_with_an_example():
    for name in dltrain.__all__:
        if name == "__version__":
            continue
        obj = getattr(dltrain, name)
        assert "Example::" in (obj.__doc__ or ""), name
        if callable(obj) and not isinstance(obj, type):
            signature = inspect.signature(obj)
            assert signature.return_annotation is not signature.empty, name
            assert all(p.annotation is not p.empty for p in signature.parameters.values()), name
    assert callable(dltrain.train)  # the function, not the dltrain.train subpackage
