"""A trained model's loss and metrics on a split, computed the way training evaluates.

``dltrain eval`` (dltrain/cli/eval.py) opens the run with ``load_trained`` and calls these.
"""

from __future__ import annotations

import json
from pathlib import Path

from dltrain.errors import UserError
from dltrain.inference.trained import Trained, split_dataset

EVAL_SPLITS = ("test", "val")


def evaluate_split(trained: Trained, split: str = "test") -> dict[str, float]:
    """``{"<split>/<metric>": value}`` of the checkpoint on ``split`` (test | val)."""
    from dltrain.components.losses import build_loss
    from dltrain.data.loaders import build_loader, loader_kind
    from dltrain.train.loop import evaluate

    if split not in EVAL_SPLITS:
        raise UserError(f"split must be test or val, got '{split}'.")
    split, dataset = split_dataset(trained, split)
    cfg = trained.cfg
    kind = loader_kind(dataset, cfg["data"])
    loader = build_loader(dataset, cfg["data"], False, cfg["seed"], trained.device, kind=kind)
    loss_fn = build_loss(cfg["loss"], trained.task).to(trained.device)
    scores = evaluate(
        trained.model, loader, loss_fn, trained.precision, trained.device, trained.task,
        extra=cfg.get("metrics", ()),
    )  # fmt: skip
    return {f"{split}/{key}": value for key, value in scores.items()}


def write_results(trained: Trained, results: dict[str, float], output: Path | None = None) -> Path:
    """The metrics as JSON (default: RUN_DIR/eval_<split>.json), with the checkpoint's path."""
    split = next(iter(results)).split("/", 1)[0] if results else "test"
    path = Path(output) if output else trained.run_dir / f"eval_{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"checkpoint": str(trained.path), **results}, indent=2) + "\n")
    return path
