"""A trained run in process: the precision is built once, class names only where they exist."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from dltrain.inference.trained import (
    FASHION_CLASSES,
    Trained,
    class_names,
    find_checkpoint,
    run_dir_of,
)
from dltrain.train import precision as precision_module


def make_trained(name: str = "fp32") -> Trained:
    cfg = {"precision": {"name": name, "tf32": False}, "data": {"shape": [4]}}
    model = nn.Linear(4, 3).eval()
    path = Path("run/checkpoints/best.pt")
    return Trained(model, cfg, "classification", path, torch.device("cpu"))


@pytest.mark.parametrize("name", ["fp32", "bf16"])
def test_forward_builds_the_precision_once(name: str, monkeypatch):
    built = []

    class Counting(precision_module.Precision):
        def __init__(self, *args, **kwargs) -> None:
            built.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(precision_module, "Precision", Counting)
    trained = make_trained(name)
    outputs = [trained.forward(torch.randn(2, 4)) for _ in range(5)]
    assert len(built) == 1, "one Precision (and GradScaler) for the Trained, not one per batch"
    assert all(o.dtype == torch.float32 and o.shape == (2, 3) for o in outputs)
    assert trained.precision is trained.precision


def test_forward_matches_the_model():
    trained = make_trained()
    inputs = torch.randn(3, 4)
    with torch.no_grad():
        expected = trained.model(inputs)
    torch.testing.assert_close(trained.forward(inputs), expected)


def test_csv_data_has_no_class_names_unless_the_config_gives_them():
    digits = [str(i) for i in range(10)]
    assert class_names({"name": "csv"}, 10) == digits
    given = [f"c{i}" for i in range(10)]
    assert class_names({"name": "csv", "class_names": given}, 10) == given


def test_class_names_of_the_data_sets_that_have_them(tmp_path: Path):
    assert class_names({"name": "fashionmnist"}, 10) == list(FASHION_CLASSES)
    assert class_names({"name": "cifar10"}, 10)[0] == "airplane"
    assert class_names({"name": "mnist"}, 10) == [str(i) for i in range(10)]
    for folder in ("cats", "dogs"):
        (tmp_path / folder).mkdir()
    assert class_names({"name": "imagefolder", "train_dir": str(tmp_path)}, 2) == ["cats", "dogs"]
    assert class_names({"name": "fashionmnist"}, 3) == ["0", "1", "2"], "a count mismatch"
    assert class_names({"name": "synthetic"}, 2) == ["0", "1"]


def test_find_checkpoint_and_run_dir(tmp_path: Path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    assert find_checkpoint(run) == run / "checkpoints" / "last.pt"
    (run / "checkpoints" / "best.pt").write_bytes(b"")
    assert find_checkpoint(run) == run / "checkpoints" / "best.pt"
    assert find_checkpoint(run / "checkpoints" / "last.pt") == run / "checkpoints" / "last.pt"
    assert run_dir_of(run / "checkpoints" / "last.pt") == run
    assert run_dir_of(run) == run
    assert run_dir_of(tmp_path / "model.pt") == tmp_path
    from dltrain.errors import UserError

    with pytest.raises(UserError, match="without checkpoints/best.pt"):
        find_checkpoint(tmp_path)
