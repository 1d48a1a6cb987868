"""Train, load and predict from Python: ``dltrain.train``, ``dltrain.load``, ``predict``.

    python examples/train_and_predict.py [WORK_DIR]      # default: outputs/api-example

Offline: scikit-learn's bundled 8x8 digits (``pip install 'dltrain[digits]'``), LeNet for
3 epochs, about 10 s on 2 CPU cores. It trains into WORK_DIR/run, writes a few digits as PNG
files into WORK_DIR/digits, and predicts them twice: from the files (as ``dltrain predict``
reads them) and from a numpy array of the same pixels.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

import dltrain


def write_digits(folder: Path, count: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``count`` of scikit-learn's digits as 28x28 grey PNGs in ``folder``; (pixels, labels)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    pixels = []
    for i in range(count):
        image = Image.fromarray((digits.images[-1 - i] * 255 / 16).astype(np.uint8))
        image = image.resize((28, 28), Image.Resampling.BILINEAR)
        image.save(folder / f"digit_{i}.png")
        pixels.append(np.asarray(image, dtype=np.float32)[None] / 255.0)  # 1 x 28 x 28
    return np.stack(pixels), digits.target[-count:][::-1]


def main(work_dir: Path, epochs: int = 3) -> tuple[dltrain.TrainResults, dltrain.Predictions]:
    """Train a tiny run into ``work_dir``/run, load it and predict; (its results, the
    predictions of the PNG files)."""
    results = dltrain.train(
        {"data": "digits", "model": "lenet", "trainer.max_epochs": epochs},
        run_dir=work_dir / "run",
    )
    print(f"test accuracy {results['test/accuracy']:.3f}, run folder {results.run_dir}")

    model = dltrain.load(results.run_dir)  # its checkpoints/best.pt
    pixels, labels = write_digits(work_dir / "digits")
    from_files = model.predict(work_dir / "digits")  # read and normalised as in training
    from_array = model.predict(pixels)  # N x 1 x 28 x 28 in [0, 1]: normalised the same way
    assert (from_files.classes == from_array.classes).all()
    for name, label, probability in zip(
        from_files.names, from_files.labels, from_files.probabilities.max(axis=1), strict=True
    ):
        print(f"{name}: {label} ({probability:.2f})")
    print(f"{(from_array.classes == labels).sum()} of {len(labels)} right")
    return results, from_files


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("outputs/api-example"))
