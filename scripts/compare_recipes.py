#!/usr/bin/env python
"""Test accuracy of training recipes on the same data: the median over seeds, one table.

    python scripts/compare_recipes.py                                # digits vs digits_strong
    python scripts/compare_recipes.py --experiments digits digits_strong --seeds 0 1 2

Each (experiment, seed) is one real `dltrain train experiment=NAME seed=S` run in a fresh
process; runs alternate between experiments (digits s0, strong s0, digits s1, ...) so machine
noise hits both alike. The table (Markdown) gives each recipe's median test accuracy over the
seeds, every seed's value, and the median wall time of a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(experiment: str, seed: int, folder: Path, extra: list[str]) -> tuple[dict, float]:
    """One training run; its results.json and wall seconds."""
    command = [
        sys.executable, "-m", "dltrain", "train", f"experiment={experiment}", f"seed={seed}",
        f"hydra.run.dir={folder}", "logging.progress=off", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads((folder / "results.json").read_text()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=["digits", "digits_strong"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--metric", default="test/accuracy")
    parser.add_argument("overrides", nargs="*", help="extra overrides for every run")
    args = parser.parse_args()
    scores: dict[str, list[float]] = {name: [] for name in args.experiments}
    times: dict[str, list[float]] = {name: [] for name in args.experiments}
    with tempfile.TemporaryDirectory(prefix="dltrain-recipes-") as tmp:
        for seed in args.seeds:
            for name in args.experiments:
                results, seconds = run(name, seed, Path(tmp) / f"{name}-{seed}", args.overrides)
                scores[name].append(results[args.metric])
                times[name].append(seconds)
                print(f"{name} seed {seed}: {args.metric} {results[args.metric]:.4f} "
                      f"({seconds:.1f}s)", file=sys.stderr)  # fmt: skip
    print(f"| experiment | median {args.metric} | per seed ({', '.join(map(str, args.seeds))}) "
          "| median run time |")  # fmt: skip
    print("|---|---|---|---|")
    for name in args.experiments:
        values = ", ".join(f"{v:.4f}" for v in scores[name])
        print(f"| `{name}` | {statistics.median(scores[name]):.4f} | {values} "
              f"| {statistics.median(times[name]):.1f} s |")  # fmt: skip


if __name__ == "__main__":
    main()
