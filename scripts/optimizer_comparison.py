"""Plot the optimizer comparison: one training-loss curve per job of a multirun folder.

    dltrain train -m experiment=optimizer_comparison hydra.sweep.dir=multirun/optimizers
    python scripts/optimizer_comparison.py multirun/optimizers     # -> .../optimizer_comparison.png

``--run`` starts that multirun first. Each job folder's config.yaml names its optimizer (sgd
with momentum is labelled with it) and its metrics.jsonl holds the per-step train/loss.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

from dltrain.plots.curves import read_events
from dltrain.plots.figures import new_figure, save


def label(optimizer: dict) -> str:
    if optimizer["name"] in ("sgd", "momentum") and optimizer.get("momentum"):
        return f"momentum ({optimizer['momentum']})"
    return str(optimizer["name"])


def loss_curves(sweep_dir: Path) -> dict[str, tuple[list[int], list[float]]]:
    """{label: (steps, train losses)} of every job folder under ``sweep_dir``."""
    curves = {}
    for config in sorted(sweep_dir.glob("*/config.yaml")):
        metrics = config.parent / "metrics.jsonl"
        if not metrics.is_file():
            continue
        cfg = yaml.safe_load(config.read_text())
        steps = [e for e in read_events(metrics) if "train/loss" in e and "epoch_seconds" not in e]
        curves[label(cfg["optimizer"])] = (
            [e["step"] for e in steps],
            [e["train/loss"] for e in steps],
        )
    return curves


def plot(sweep_dir: Path, output: Path | None = None) -> Path:
    curves = loss_curves(sweep_dir)
    if not curves:
        sys.exit(f"no job folders with config.yaml and metrics.jsonl under {sweep_dir}")
    figure = new_figure()
    axes = figure.add_subplot()
    for name, (steps, losses) in curves.items():
        axes.plot(steps, losses, label=name, linewidth=1)
    axes.set(xlabel="step", ylabel="training loss (mse)", yscale="log")
    axes.set_title("Optimizer comparison: regression_mlp on quadratic")
    axes.legend()
    return save(figure, output or sweep_dir / "optimizer_comparison.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, nargs="?", default=Path("multirun/optimizers"))
    parser.add_argument("--run", action="store_true", help="run the multirun first")
    parser.add_argument("--output", type=Path, default=None, help="PNG path")
    args = parser.parse_args()
    if args.run:
        command = [
            sys.executable,
            "-m",
            "dltrain",
            "train",
            "-m",
            "experiment=optimizer_comparison",
            f"hydra.sweep.dir={args.sweep_dir}",
        ]
        subprocess.run(command, check=True)
    print(plot(args.sweep_dir, args.output))


if __name__ == "__main__":
    main()
