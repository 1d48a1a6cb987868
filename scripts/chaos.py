#!/usr/bin/env python
"""Kill a training run K times at random moments, resume it each time, compare with a clean run.

    python scripts/chaos.py --kills 5 -- data=synthetic model=mlp trainer.max_epochs=3

Runs `dltrain train ARGS deterministic=true` once uninterrupted, then again in a second folder,
sending SIGKILL at random times (the run saves every `checkpoint.every_n_steps`, 5 unless the
arguments say otherwise) and starting the same command after each kill. At the end it compares
the two runs: weights, optimizer state, position, metrics.jsonl (without timing fields) and
results.json, and prints a Markdown table. Exit 0 when they match exactly, 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from dltrain.testing.compare import run_differences


def train(args: list[str], run: Path, kill_after: float | None = None) -> tuple[int, float]:
    """Run dltrain into ``run``; SIGKILL it after ``kill_after`` seconds. (exit code, seconds)"""
    command = [sys.executable, "-m", "dltrain", "train", *args, f"hydra.run.dir={run}"]
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
    else:
        if proc.returncode not in (0, -9):
            sys.exit(f"dltrain failed ({proc.returncode}):\n{stderr}")
    return proc.returncode, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="dltrain train overrides (after --)")
    options = parser.parse_args()
    args = [*options.overrides, "deterministic=true"]
    if not any(a.startswith("checkpoint.every_n_steps=") for a in args):
        args.append("checkpoint.every_n_steps=5")
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="dltrain-chaos-"))
    clean, chaos = workdir / "clean", workdir / "chaos"
    _, duration = train(args, clean)
    rng = random.Random(options.seed)
    rows = []
    for number in range(1, options.kills + 1):
        delay = rng.uniform(0.3, max(0.6, duration))
        code, _ = train(args, chaos, kill_after=delay)
        last = chaos / "checkpoints" / "last.pt"
        step = torch.load(last, weights_only=True)["progress"]["step"] if last.exists() else "-"
        rows.append((number, f"{delay:.1f}s", "killed" if code == -9 else "finished", step))
    train(args, chaos)
    found = run_differences(clean, chaos)
    print("| kill | after | outcome | checkpoint step |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    verdict = (
        "MATCH: identical to the uninterrupted run"
        if not found
        else "MISMATCH: " + ", ".join(found)
    )
    print(f"\n{verdict}\n(runs in {workdir})")
    sys.exit(0 if not found else 1)


if __name__ == "__main__":
    main()
