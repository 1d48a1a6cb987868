"""dltrain plot / predict / export on real (tiny) runs trained in this process."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dltrain.cli import main
from dltrain.testing.fake_data import write_fake_mnist
from tests.helpers.data import read_idx
from tests.helpers.viz import save_idx_images_as_files, train_in_process

BASE = ["data.download=false", "data.batch_size=64", "trainer.max_epochs=2", "device=cpu"]


@pytest.fixture(scope="module")
def cls_run(fmnist_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("verbs") / "cls"
    train_in_process(run, [f"data.root={fmnist_root}", *BASE, "logging.every_n_steps=4"])
    return run


@pytest.fixture(scope="module")
def seg_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("garments")
    write_fake_mnist(root, train_size=300, test_size=60, style="garments")
    return root


@pytest.fixture(scope="module")
def seg_run(seg_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("verbs") / "seg"
    overrides = [f"data.root={seg_root}", *BASE, "data.batch_size=32", "optimizer.lr=0.02"]
    model, loss = {"name": "viz_seg", "in_channels": 1}, {"name": "bce_with_logits"}
    train_in_process(run, overrides, model=model, loss=loss)
    return run


@pytest.fixture(scope="module")
def reg_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("verbs") / "reg"
    overrides = ["data=quadratic", "trainer.max_epochs=2", "device=cpu", "optimizer.lr=0.01"]
    train_in_process(run, overrides, model={"name": "viz_reg"}, loss={"name": "mse"})
    return run


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def exit_code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        main(args)
    return stop.value.code


def is_png(path: Path, min_side: int = 200) -> bool:
    with Image.open(path) as image:
        return image.format == "PNG" and min(image.size) >= min_side


# plot


def test_plot_writes_curves_and_classification_galleries(cls_run: Path, capsys):
    main(["plot", str(cls_run)])
    names = {"loss.png", "accuracy.png", "lr.png", "confusion_matrix.png", "samples.png"}
    assert {p.name for p in (cls_run / "plots").iterdir()} == names
    assert all(is_png(cls_run / "plots" / n) for n in names)
    assert capsys.readouterr().out.count("wrote ") == len(names)


def test_plot_curves_only_needs_no_checkpoint(cls_run: Path, tmp_path: Path):
    main(["plot", str(cls_run), "predictions=false", f"output={tmp_path}"])
    assert {p.name for p in tmp_path.iterdir()} == {"loss.png", "accuracy.png", "lr.png"}


def test_plot_segmentation_samples(seg_run: Path):
    main(["plot", str(seg_run), "samples=4"])
    names = {p.name for p in (seg_run / "plots").iterdir()}
    assert names == {"loss.png", "dice.png", "iou.png", "lr.png", "samples.png"}
    with Image.open(seg_run / "plots" / "samples.png") as image:
        assert image.size[1] > image.size[0]  # four rows of input | true | predicted


def test_plot_and_predict_regression(reg_run: Path, tmp_path: Path):
    main(["plot", str(reg_run)])
    names = {p.name for p in (reg_run / "plots").iterdir()}
    assert names == {"loss.png", "mse.png", "mae.png", "lr.png", "predictions.png"}
    main(["predict", f"ckpt={reg_run}", "input=test", f"output={tmp_path}"])
    rows = read_csv(tmp_path / "predictions.csv")
    assert len(rows) == 100 and list(rows[0]) == ["file", "prediction", "target"]
    mse = np.mean([(float(r["prediction"]) - float(r["target"])) ** 2 for r in rows])
    results = json.loads((reg_run / "results.json").read_text())
    assert mse == pytest.approx(results["test/mse"], rel=1e-4)
    assert exit_code(["predict", f"ckpt={reg_run}", f"input={tmp_path}"]) == 2  # not images


def test_plot_bad_input_is_exit_2(tmp_path: Path, capsys):
    assert exit_code(["plot", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert exit_code(["plot", str(tmp_path), "colour=red"]) == 2
    assert "plot has no option 'colour'" in capsys.readouterr().err


# predict


def test_predict_split_reproduces_the_test_accuracy(cls_run: Path, tmp_path: Path):
    main(["predict", f"ckpt={cls_run}", "input=test", f"output={tmp_path}"])
    rows = read_csv(tmp_path / "predictions.csv")
    assert len(rows) == 200 and rows[0]["file"] == "test:0"
    assert list(rows[0]) == ["file", "class", "label", "probability", "target", "target_label"]
    accuracy = np.mean([r["class"] == r["target"] for r in rows])
    results = json.loads((cls_run / "results.json").read_text())
    assert accuracy == pytest.approx(results["test/accuracy"])
    assert rows[0]["label"] in ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip


def test_predict_image_files_match_the_split(cls_run: Path, fmnist_root: Path, tmp_path: Path):
    """PNG files of test images get the same class and probability as the test split."""
    images = tmp_path / "images"
    save_idx_images_as_files(fmnist_root, images, 5)
    with Image.open(images / "test_000.png") as grey:  # RGB files become grey too
        grey.convert("RGB").save(images / "rgb.png")
        grey.resize((56, 56)).save(images / "big.jpg", quality=95)
    main(["predict", f"ckpt={cls_run / 'checkpoints' / 'best.pt'}", f"input={images}",
          f"output={tmp_path / 'files'}"])  # fmt: skip
    main(["predict", f"ckpt={cls_run}", "input=test", f"output={tmp_path / 'split'}"])
    files = {r["file"]: r for r in read_csv(tmp_path / "files" / "predictions.csv")}
    split = read_csv(tmp_path / "split" / "predictions.csv")
    assert len(files) == 7 and "target" not in files["big.jpg"]
    assert 0.1 <= float(files["big.jpg"]["probability"]) <= 1.0
    for index in range(5):
        row = files[f"test_{index:03d}.png"]
        assert row["class"] == split[index]["class"]
        assert float(row["probability"]) == pytest.approx(float(split[index]["probability"]))
    assert files["rgb.png"] == {**files["test_000.png"], "file": "rgb.png"}


def test_predict_segmentation_writes_masks(seg_run: Path, seg_root: Path, tmp_path: Path):
    images = tmp_path / "images"
    save_idx_images_as_files(seg_root, images, 3)
    with Image.open(images / "test_000.png") as grey:
        grey.resize((40, 40)).save(images / "large.png")
    main(["predict", f"ckpt={seg_run}", f"input={images}", f"output={tmp_path / 'out'}"])
    rows = {r["file"]: r for r in read_csv(tmp_path / "out" / "predictions.csv")}
    assert set(rows) == {"test_000.png", "test_001.png", "test_002.png", "large.png"}
    with Image.open(tmp_path / "out" / rows["large.png"]["mask"]) as mask:
        assert mask.size == (40, 40)  # back at the input file's size
    main(["predict", f"ckpt={seg_run}", "input=test", f"output={tmp_path / 'split'}"])
    split = sorted((tmp_path / "split" / "masks").glob("test_*.png"))
    assert len(split) == 60 and split[0].name == "test_000000.png"
    for index in range(3):
        from_file = np.asarray(Image.open(tmp_path / "out" / rows[f"test_{index:03d}.png"]["mask"]))
        assert set(np.unique(from_file)) <= {0, 255}
        assert np.array_equal(from_file, np.asarray(Image.open(split[index])))
    truth = read_idx(seg_root / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte") > 0.1 * 255
    masks = np.stack([np.asarray(Image.open(p)) > 0 for p in split])
    order = [int(p.stem.split("_")[1]) for p in split]
    assert (masks == truth[order]).mean() > 0.85, "the model learned the silhouettes"


def test_predict_bad_input_is_exit_2(cls_run: Path, tmp_path: Path, capsys):
    assert exit_code(["predict", f"ckpt={cls_run}", f"input={tmp_path / 'none.png'}"]) == 2
    assert "neither an image file" in capsys.readouterr().err
    assert exit_code(["predict", f"ckpt={tmp_path / 'none.pt'}", "input=test"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert exit_code(["predict", f"ckpt={cls_run}", f"input={tmp_path}"]) == 2
    assert "holds no image files" in capsys.readouterr().err
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert exit_code(["predict", f"ckpt={cls_run}", f"input={tmp_path / 'broken.png'}"]) == 2
    assert "cannot read image" in capsys.readouterr().err
    assert exit_code(["predict", f"ckpt={cls_run}"]) == 2
    assert "predict needs input=" in capsys.readouterr().err


def test_predict_without_the_data_names_the_fix(cls_run: Path, tmp_path: Path, capsys):
    """The data set's own mean/std are needed for image files: point at the data or pass them."""
    image = tmp_path / "a.png"
    Image.new("L", (28, 28)).save(image)
    args = ["predict", f"ckpt={cls_run}", f"input={image}", f"data.root={tmp_path / 'gone'}"]
    assert exit_code(args) == 2
    assert "data.mean=[...] data.std=[...]" in capsys.readouterr().err
    main([*args, "data.mean=[0.286]", "data.std=[0.353]", f"output={tmp_path / 'out'}"])
    assert len(read_csv(tmp_path / "out" / "predictions.csv")) == 1


# export


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
@pytest.mark.parametrize("fmt", ["torchscript", "onnx", "safetensors", "exported_program"])
def test_export_reproduces_outputs(fmt: str, cls_run: Path, tmp_path: Path, capsys):
    output = tmp_path / f"model.{fmt}"
    main(["export", f"ckpt={cls_run}", f"format={fmt}", f"output={output}"])
    printed = capsys.readouterr().out
    assert output.is_file() and "max abs difference" in printed
    assert float(printed.split("batch of 8: ")[1].split()[0]) <= 1e-4
    from dltrain.inference.trained import load_trained

    trained = load_trained(cls_run, "cpu")
    inputs = torch.randn(3, 1, 28, 28)
    with torch.inference_mode():
        expected = trained.model(inputs)
        got = load_as_user(fmt, output, trained)(inputs)
    torch.testing.assert_close(torch.as_tensor(got), expected, atol=1e-4, rtol=1e-4)


def load_as_user(fmt: str, path: Path, trained):
    """Each format loaded back the way its documentation says, outside dltrain's export."""
    if fmt == "torchscript":
        return torch.jit.load(str(path))
    if fmt == "exported_program":
        return torch.export.load(str(path)).module()
    if fmt == "safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        from dltrain.models.build import build_model

        with safe_open(str(path), "pt") as handle:
            config = json.loads(handle.metadata()["dltrain_config"])
        model = build_model(config["model"]).eval()
        model.load_state_dict(load_file(str(path)))
        return model
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def test_export_bad_input_is_exit_2(cls_run: Path, tmp_path: Path, capsys, monkeypatch):
    assert exit_code(["export", f"ckpt={cls_run}", "format=tflite"]) == 2
    assert "Formats: torchscript, onnx, safetensors, exported_program" in capsys.readouterr().err
    assert exit_code(["export", f"ckpt={tmp_path}", "format=onnx"]) == 2
    assert "without checkpoints/best.pt" in capsys.readouterr().err
    assert exit_code(["export", f"ckpt={cls_run}"]) == 2
    assert "export needs format=" in capsys.readouterr().err
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "onnxscript" else real(n, *a)
    )
    assert exit_code(["export", f"ckpt={cls_run}", "format=onnx"]) == 2
    assert "pip install 'dltrain[onnx]'" in capsys.readouterr().err
    assert not (cls_run / "export").exists()
