"""``dltrain predict RUN_DIR|ckpt=PATH input=...``: a trained model's predictions."""

from __future__ import annotations

from pathlib import Path

HELP = """\
Image files (PNG, JPEG, ...) become inputs the way training data did: converted to the model's
channels, resized to data.shape, normalised with the data set's mean and std. A split (test,
val, train) of the run's data set gives targets too. Writes OUTPUT/predictions.csv, plus
OUTPUT/masks/*.png for segmentation.
  dltrain predict outputs/DATE/TIME input=photo.png
  dltrain predict ckpt=outputs/DATE/TIME input=test output=preds/"""


def run(args: list[str]) -> Path:
    from dltrain.cli.options import parse_options
    from dltrain.errors import UserError

    options, data_overrides = parse_options("predict", args, positional="ckpt")
    if options["batch_size"] < 1:
        raise UserError(f"batch_size must be 1 or more, got {options['batch_size']}.")
    from dltrain.inference.predict import check_source, predict
    from dltrain.inference.trained import load_trained

    source = str(options["input"])
    check_source(source)  # before the model loads
    trained = load_trained(options["ckpt"], options["device"], data_overrides)
    written, count = predict(trained, source, options["output"], options["batch_size"])
    print(f"wrote {written} ({count} predictions)")
    return written
