"""metrics=[...] in a real run: where each value lands, checkpoint.monitor on one, bad names.

The values themselves are checked against scikit-learn in tests/unit/metrics; the mid-epoch
resume with extra metrics is in test_resume.py, the DDP-global value in test_distributed.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import dltrain, fast_train_args, read_jsonl
from tests.helpers.contract import assert_train_refused

EXTRAS = "metrics=[f1_macro,top3_accuracy,confusion_matrix,accuracy_per_class]"


@pytest.mark.slow
def test_extra_metrics_land_in_metrics_jsonl_results_and_the_log(fmnist_root, tmp_path: Path):
    run = tmp_path / "run"
    args = fast_train_args(fmnist_root, run, EXTRAS, "checkpoint.monitor=val/f1_macro")
    result = dltrain(*args, "trainer.max_epochs=1")
    assert result.returncode == 0, result.stderr
    epoch = [e for e in read_jsonl(run / "metrics.jsonl") if "val/loss" in e][-1]
    for split in ("train", "val"):
        assert 0.0 <= epoch[f"{split}/f1_macro"] <= 1.0
        assert epoch[f"{split}/top3_accuracy"] >= epoch[f"{split}/accuracy"]
        assert [f"{split}/accuracy_class_{k}" in epoch for k in range(10)] == [True] * 10
        assert f"{split}/confusion_matrix" not in epoch  # a matrix: results.json only
    results = json.loads((run / "results.json").read_text())
    assert results["monitor"] == "val/f1_macro"
    assert results["best_score"] == epoch["val/f1_macro"]
    matrix = results["confusion_matrix"]["test"]
    assert len(matrix) == 10 and sum(map(sum, matrix)) == 200  # every test image once
    assert sum(matrix[k][k] for k in range(10)) / 200 == pytest.approx(results["test/accuracy"])
    assert "test/f1_macro" in results and "test/accuracy_class_9" in results
    log = (run / "train.log").read_text()
    assert "val/f1_macro" in log and "_class_" not in log  # per-class values: files only
    assert "max val/f1_macro" in log  # checkpoint.mode auto: higher is better


def test_an_unknown_metric_is_exit_2_naming_the_closest(fmnist_root, tmp_path: Path):
    assert_train_refused(
        fmnist_root,
        tmp_path,
        ["metrics=[f1_macro,top3_acuracy]"],
        ["unknown metric 'top3_acuracy'", "Did you mean 'top3_accuracy'", "metrics=[...]"],
    )
