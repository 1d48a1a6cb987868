"""`dltrain <verb>` as a user runs it: --help of every verb, the run named as RUN_DIR or ckpt=."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import dltrain
from tests.helpers.viz import train_in_process

OWN_HELP = ("eval", "plot", "predict", "export", "report", "list", "summary")
OPTIONS = {
    "eval": ("ckpt", "split", "device", "output", "data.*"),
    "plot": ("ckpt", "split", "samples", "predictions", "device", "output", "data.*"),
    "predict": ("ckpt", "input", "output", "batch_size", "device", "data.*"),
    "export": ("ckpt", "format", "output", "check_batch", "tolerance", "device", "data.*"),
    "report": ("dir",),
}


@pytest.fixture(scope="module")
def run(fmnist_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained run with a registered model (a subprocess can rebuild it)."""
    folder = tmp_path_factory.mktemp("verbs") / "run"
    overrides = [f"data.root={fmnist_root}", "data.download=false", "model=softmax_regression",
                 "trainer.max_epochs=1", "device=cpu", "data.batch_size=128"]  # fmt: skip
    train_in_process(folder, overrides)
    return folder


@pytest.mark.parametrize("verb", OWN_HELP)
def test_help_of_every_verb(verb: str):
    result = dltrain(verb, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: dltrain {verb}")
    for key in OPTIONS.get(verb, ()):
        assert f"\n  {key} " in result.stdout, key


def test_top_help_names_every_verb_and_its_help():
    result = dltrain("--help")
    assert result.returncode == 0
    for verb in ("train", *OWN_HELP):
        assert f"\n  {verb} " in result.stdout
    assert "dltrain <command> --help" in result.stdout


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (("eval",), "dltrain eval RUN_DIR|ckpt=PATH"),
        (("predict", "a", "b"), "dltrain predict RUN_DIR|ckpt=PATH"),
        (("export", "x"), "dltrain export RUN_DIR|ckpt=PATH"),
        (("plot",), "dltrain plot RUN_DIR|ckpt=PATH"),
        (("report",), "dltrain report SWEEP_DIR|RUN_DIR"),
    ],
)
def test_missing_or_extra_arguments_exit_2_naming_the_usage(args: tuple, usage: str):
    result = dltrain(*args)
    assert result.returncode == 2
    assert usage in result.stderr and "Traceback" not in result.stderr


def test_eval_positional_equals_ckpt(run: Path, tmp_path: Path):
    bare = dltrain("eval", str(run), f"output={tmp_path / 'bare.json'}")
    assert bare.returncode == 0, bare.stderr
    keyed = dltrain("eval", f"ckpt={run / 'checkpoints' / 'best.pt'}", "split=val")
    assert keyed.returncode == 0, keyed.stderr
    written = json.loads((tmp_path / "bare.json").read_text())
    results = json.loads((run / "results.json").read_text())
    assert written["test/accuracy"] == pytest.approx(results["test/accuracy"])
    assert written["checkpoint"] == str(run / "checkpoints" / "best.pt")
    assert "val/accuracy" in json.loads((run / "eval_val.json").read_text())


def test_predict_positional_and_ckpt(run: Path, tmp_path: Path):
    for name, first in (("bare", str(run)), ("keyed", f"ckpt={run}")):
        result = dltrain("predict", first, "input=test", f"output={tmp_path / name}")
        assert result.returncode == 0, result.stderr
    bare = (tmp_path / "bare" / "predictions.csv").read_text()
    assert bare == (tmp_path / "keyed" / "predictions.csv").read_text()
    assert bare.count("\n") == 201


def test_export_positional_and_ckpt(run: Path, tmp_path: Path):
    for name, first in (("bare", str(run / "checkpoints" / "best.pt")), ("keyed", f"ckpt={run}")):
        output = tmp_path / f"{name}.safetensors"
        result = dltrain("export", first, "format=safetensors", f"output={output}")
        assert result.returncode == 0, result.stderr
        assert output.is_file() and "max abs difference" in result.stdout


def test_summary_of_a_run_and_of_a_config(run: Path):
    bare = dltrain("summary", str(run))
    keyed = dltrain("summary", f"ckpt={run / 'checkpoints' / 'best.pt'}")
    config = dltrain("summary", "model=softmax_regression")
    for result in (bare, keyed, config):
        assert result.returncode == 0, result.stderr
        assert "softmax_regression on input (batch, 1, 28, 28)" in result.stdout
        assert "total parameters: 7,850" in result.stdout
    assert bare.stdout == keyed.stdout
    assert str(run / "checkpoints" / "best.pt") in bare.stdout


def test_plot_takes_a_checkpoint_file(run: Path, tmp_path: Path):
    result = dltrain("plot", f"ckpt={run / 'checkpoints' / 'last.pt'}", f"output={tmp_path}")
    assert result.returncode == 0, result.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert {"loss.png", "confusion_matrix.png", "samples.png"} <= names
