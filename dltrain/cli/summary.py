"""``dltrain summary``: each layer's output shape and parameter count on the data's input.

Of a config composed from overrides (``dltrain summary model=lenet``), or of a trained model
(``dltrain summary RUN_DIR`` or ``ckpt=PATH``, with its saved config and weights).
"""

from __future__ import annotations

HELP = """\
With overrides (or none), the model of the composed train config, with fresh weights, run on
one zero input of data.shape. With a run folder or a checkpoint file (the bare argument or
ckpt=PATH), the trained model of that checkpoint; data.KEY=VALUE overrides its data config.
  dltrain summary model=lenet data=cifar10
  dltrain summary outputs/DATE/TIME"""


def run(args: list[str]) -> None:
    from dltrain.errors import UserError

    runs = [a for a in args if "=" not in a and not a.startswith("~")]
    runs += [a.split("=", 1)[1] for a in args if a.startswith("ckpt=")]
    if not runs:
        lines = _config_summary(args)
    else:
        overrides = [a for a in args if "=" in a and not a.startswith("ckpt=")]
        others = [a for a in overrides if not a.startswith("data.")]
        if len(runs) > 1 or others:
            raise UserError(
                "summary takes either train overrides (dltrain summary model=lenet) or one run "
                f"with data.* overrides (dltrain summary RUN_DIR|ckpt=PATH), got: {' '.join(args)}"
            )
        lines = _trained_summary(runs[0], overrides)
    print("\n".join(lines))


def _config_summary(overrides: list[str]) -> list[str]:
    from dltrain.config.compose import compose
    from dltrain.config.freeze import to_plain
    from dltrain.config.validate import validate_composed

    cfg = compose(overrides)
    validate_composed(cfg)
    plain = to_plain(cfg)
    from dltrain.models.build import build_model
    from dltrain.models.summary import summary_lines

    model = build_model(plain["model"], load_weights=False)  # shapes only
    return summary_lines(model, plain["model"]["name"], plain["data"]["shape"])


def _trained_summary(ckpt: str, data_overrides: list[str]) -> list[str]:
    from dltrain.inference.trained import load_trained
    from dltrain.models.summary import summary_lines

    trained = load_trained(ckpt, "cpu", data_overrides)
    lines = summary_lines(trained.model, trained.cfg["model"]["name"], trained.input_shape)
    return [f"{trained.path}", *lines]
