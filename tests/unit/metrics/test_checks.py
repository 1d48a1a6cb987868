"""metrics=[...] in preflight (unknown, duplicated, of another task, top-K beyond the classes,
a monitor naming one not listed) and their train states through a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dltrain.config.compose import compose
from dltrain.config.validate import validate_composed
from dltrain.distributed.context import DistContext
from dltrain.errors import UserError
from dltrain.metrics.catalog import logged_keys, metric_spec
from dltrain.train import dry_build as dry
from dltrain.train.checkpointer import Checkpointer
from dltrain.train.metrics import metrics_for
from dltrain.train.monitor import resolve_monitor
from dltrain.train.run_files import MetricsFile
from dltrain.train.state import TrainState

CPU = torch.device("cpu")
REGRESSION = ["model=regression_mlp", "data=quadratic"]


def dry_build(*overrides: str) -> None:
    cfg = compose(["data=synthetic", "device=cpu", *overrides])
    validate_composed(cfg)
    dry.dry_build(cfg)


def test_every_task_passes_with_its_metrics():
    dry_build("metrics=[f1_macro,top3_accuracy,auroc,confusion_matrix,accuracy_per_class]")
    dry_build("metrics=[rmse,r2,mae]", "checkpoint.monitor=val/r2", *REGRESSION)
    seg = compose(["data=fashionmnist", "model=unet", "metrics=[dice_per_class,iou_per_class]"])
    validate_composed(seg)
    dry.dry_build(seg)


@pytest.mark.parametrize(
    ("overrides", "phrases"),
    [
        (["metrics=[f1_macr]"], ["unknown metric 'f1_macr'", "Did you mean 'f1_macro'"]),
        (["metrics=[f1_macro,f1_macro]"], ["lists f1_macro twice"]),
        (["metrics=[r2]"], ["'r2' is a regression metric", "classification model", "f1_macro"]),
        (["metrics=[top1_accuracy]"], ["top-1 accuracy is the accuracy"]),
        (["metrics=[top11_accuracy]"], ["has 10 classes", "K <= 10"]),
        (["checkpoint.monitor=val/f1_macro"], ["metrics=[f1_macro]", "computed only when"]),
        (["metrics=[auroc]", "checkpoint.monitor=val/auroc_x"], ["Did you mean 'val/auroc'"]),
        (["metrics=[confusion_matrix]", "checkpoint.monitor=val/confusion_matrix"], ["not a"]),
    ],
)
def test_refused_in_preflight_naming_the_fix(overrides, phrases):
    with pytest.raises(UserError) as err:
        dry_build(*overrides)
    for phrase in phrases:
        assert phrase in str(err.value), str(err.value)


def test_monitors_of_extras_and_their_direction():
    dry_build("metrics=[accuracy_per_class]", "checkpoint.monitor=val/accuracy_class_3")
    dry_build("metrics=[f1_macro]", "checkpoint.monitor=val/f1_macro")
    assert resolve_monitor("val/f1_macro", "auto", "classification") == ("val/f1_macro", "max")
    assert resolve_monitor("val/rmse", "auto", "regression") == ("val/rmse", "min")
    assert resolve_monitor("val/r2", "auto", "regression") == ("val/r2", "max")


def test_names_logged_per_split():
    names = ["top5_accuracy", "accuracy_per_class", "confusion_matrix", "accuracy"]
    assert logged_keys(names, 3) == [
        "top5_accuracy", "accuracy_class_0", "accuracy_class_1", "accuracy_class_2",
    ]  # fmt: skip
    assert metric_spec("top20_accuracy").task == "classification"


def test_train_states_go_through_a_checkpoint(tmp_path: Path):
    """A mid-epoch checkpoint holds each rank's extra-metric states; restored, the epoch's
    values are those of an epoch that never stopped."""
    names = ["f1_macro", "auroc", "accuracy_per_class"]
    generator = torch.Generator().manual_seed(3)
    batches = [
        (torch.randn(n, 4, generator=generator), torch.randint(0, 4, (n,), generator=generator))
        for n in (8, 5, 7)
    ]
    whole = metrics_for("classification", CPU, names)
    for logits, labels in batches:
        whole.update(torch.tensor(1.0), logits, labels)

    model = torch.nn.Linear(2, 2)
    parts = {"model": model, "optimizer": torch.optim.SGD(model.parameters(), lr=0.1)}
    metrics_file = MetricsFile(tmp_path / "metrics.jsonl")
    saver = Checkpointer(tmp_path / "ckpt", DistContext(), parts, metrics_file, {"seed": 0})
    state = TrainState(metrics_for("classification", CPU, names))
    for logits, labels in batches[:2]:
        state.train_metrics.update(torch.tensor(1.0), logits, labels)
    saver.save(state, ("last.pt",))

    restored = saver.restore(saver.last, CPU)
    resumed = TrainState(metrics_for("classification", CPU, names))
    resumed.resume(restored.progress, restored.best, restored.train_sums, restored.train_extras)
    resumed.train_metrics.update(torch.tensor(1.0), *batches[2])
    assert resumed.train_metrics.compute() == whole.compute()


def test_a_registered_function_is_a_scalar_metric_of_its_task():
    from torchmetrics.classification import MulticlassCohenKappa

    from dltrain.registry import METRICS

    if "test_kappa" not in METRICS:

        @METRICS.register("test_kappa", task="classification")
        def test_kappa(classes: int):
            return MulticlassCohenKappa(classes)

    metrics = metrics_for("classification", CPU, ["test_kappa"])
    metrics.update(torch.tensor(0.0), torch.eye(3), torch.tensor([0, 1, 2]))
    assert metrics.compute()["test_kappa"] == pytest.approx(1.0)
    assert logged_keys(["test_kappa"], 3) == ["test_kappa"]
