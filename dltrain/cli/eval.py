"""``dltrain eval RUN_DIR|ckpt=PATH``: a checkpoint's metrics on the test (or val) split."""

from __future__ import annotations

HELP = """\
Rebuilds the model and the data set from the config saved in the checkpoint and computes the
loss and metrics as training's evaluation does; prints them and writes them as JSON
(default: RUN_DIR/eval_<split>.json).
  dltrain eval outputs/DATE/TIME
  dltrain eval ckpt=outputs/DATE/TIME/checkpoints/last.pt split=val data.root=/data"""


def run(args: list[str]) -> dict[str, float]:
    from dltrain.cli.options import parse_options
    from dltrain.errors import UserError

    options, data_overrides = parse_options("eval", args, positional="ckpt")
    if options["split"] not in ("test", "val"):
        raise UserError(f"split must be test or val, got '{options['split']}'.")
    from dltrain.inference.evaluate import evaluate_split, write_results
    from dltrain.inference.trained import load_trained

    trained = load_trained(options["ckpt"], options["device"], data_overrides)
    results = evaluate_split(trained, options["split"])
    written = write_results(trained, results, options["output"])
    for key, value in results.items():
        print(f"{key}: {value:.4f}")
    print(f"wrote {written}")
    return results
