"""``dltrain plot RUN_DIR|ckpt=PATH``: PNG curves and prediction galleries of a run."""

from __future__ import annotations

from pathlib import Path

HELP = """\
From metrics.jsonl: loss.png, one <metric>.png per metric (train vs val per epoch), lr.png.
From the best checkpoint (or the checkpoint file given) on the val (or test) split:
confusion_matrix.png and samples.png for classification, samples.png (input, true mask,
predicted mask, wrong pixels) for segmentation, predictions.png (predicted vs true) for
regression.
  dltrain plot outputs/DATE/TIME
  dltrain plot ckpt=outputs/DATE/TIME/checkpoints/last.pt predictions=false"""


def run(args: list[str]) -> list[Path]:
    from dltrain.cli.options import parse_options
    from dltrain.plots import plot_run

    options, data_overrides = parse_options(
        "plot", args, positional="ckpt", aliases={"run": "ckpt"}
    )
    written = plot_run(
        Path(options["ckpt"]),
        split=options["split"],
        samples=options["samples"],
        predictions=options["predictions"],
        device=options["device"],
        output=options["output"],
        data_overrides=data_overrides,
    )
    for path in written:
        print(f"wrote {path}")
    return written
