#!/usr/bin/env python
"""What each logger costs the FashionMNIST CNN's training, in images/s of real `dltrain train` runs.

    python scripts/bench_logging.py                     # 250 steps, 3 alternating repeats
    python scripts/bench_logging.py --steps 400 --repeats 5

Every run is a fresh `python -m dltrain train` process (the tutorials' CNN, batch 256, the
in-memory path, generated FashionMNIST-format files, one epoch longer than ``--steps``) at the
default ``logging.every_n_steps`` (50), with ``logger=[]``, ``[tensorboard]``, ``[mlflow]`` on
its default local store (SQLite beside the run folders, created before timing, as it is after a
first run), ``[mlflow]`` to a local ``mlflow server`` this script starts, and ``[wandb]``
offline when a ``wandb`` logger is registered. The configurations alternate within each repeat,
so machine noise hits all alike. A run's images/s is read from its own metrics.jsonl: the
images trained between its first and last logged step over the wall-clock time between them
(``time`` of those step events), so start-up and the final test are left out while the
loggers' work during training (MLflow's import and run set-up on its thread included) is in.
The table gives the median over the repeats and the ratio to ``logger=[]``; then what the
MLflow logger's ``log`` costs the training thread per event, timed in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def configurations(server_url: str | None) -> dict[str, list[str]]:
    """Label -> the overrides of that configuration."""
    from dltrain.registry import LOGGERS

    configs = {
        "logger=[]": ["logger=[]"],
        "logger=[tensorboard]": ["logger=[tensorboard]"],
        "logger=[mlflow], local store": ["logger=[mlflow]"],
    }
    if server_url:
        configs["logger=[mlflow], local server"] = [
            "logger=[mlflow]",
            f"logger.mlflow.tracking_uri={server_url}",
        ]
    if "wandb" in LOGGERS.names():
        configs["logger=[wandb], offline"] = ["logger=[wandb]"]
    return configs


def run_once(root: Path, runs: Path, name: str, overrides: list[str], steps: int) -> float:
    """One `dltrain train` run; its training images/s between the first and last logged step."""
    run_dir = runs / name
    command = [
        sys.executable, "-m", "dltrain", "train", f"data.root={root}", "data.download=false",
        "data.val_split=0.01", "trainer.max_epochs=1", f"trainer.max_steps={steps}",
        "logging.progress=off", f"hydra.run.dir={run_dir}", *overrides,
    ]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    done = subprocess.run(command, cwd=runs, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [e for e in events if "time" in e]
    first, last = logged[0], logged[-1]
    batch = 256
    return (last["step"] - first["step"]) * batch / (last["time"] - first["time"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=250, help="optimizer steps per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-server", action="store_true", help="leave out the server row")
    args = parser.parse_args()
    sys.path.insert(0, str(REPOSITORY))
    from dltrain.testing.fake_data import write_fake_mnist
    from tests.helpers.mlflow_server import mlflow_server

    with tempfile.TemporaryDirectory() as folder:
        temp = Path(folder)
        root, runs = temp / "data", temp / "runs"
        runs.mkdir()
        train_size = int((args.steps + 10) * 256 / 0.99)  # one epoch holds every step
        write_fake_mnist(root, train_size=train_size, test_size=256)
        _create_local_store(runs)
        if args.no_server:
            speeds = _alternate(root, runs, configurations(None), args)
        else:
            with mlflow_server(temp / "server") as url:
                speeds = _alternate(root, runs, configurations(url), args)
        per_event = training_thread_cost(runs / "per-event")
    report(speeds, args)
    median, mean = per_event
    print(
        f"\nMLflowLogger.log on the training thread: {median:.1f} us per step event (median; "
        f"mean {mean:.1f} us)"
    )


def training_thread_cost(run_dir: Path, events: int = 2000) -> tuple[float, float]:
    """Median and mean microseconds ``MLflowLogger.log`` takes per step event (the sender's
    thread does the rest)."""
    from dltrain.loggers.base import LoggerRun
    from dltrain.loggers.mlflow_logger import MLflowLogger

    run_dir.mkdir()
    logger = MLflowLogger(LoggerRun(run_dir, {"seed": 42}, resumed=False))
    took = []
    for step in range(events):
        event = {"epoch": 1, "step": step, "train/loss": 0.5, "lr": 1e-3,
                 "images_per_sec": 4000.0, "time": time.time(), "grad_norm": 1.2}  # fmt: skip
        started = time.perf_counter()
        logger.log(event, "step")
        took.append((time.perf_counter() - started) * 1e6)
    logger.close()
    return statistics.median(took), statistics.mean(took)


def _create_local_store(runs: Path) -> None:
    """The default store's database, as a first run leaves it (MLflow's migrations: seconds)."""
    from mlflow import MlflowClient

    MlflowClient(f"sqlite:///{runs / 'mlflow.db'}").search_experiments()


def _alternate(
    root: Path, runs: Path, configs: dict[str, list[str]], args: argparse.Namespace
) -> dict[str, list[float]]:
    speeds: dict[str, list[float]] = {label: [] for label in configs}
    for repeat in range(args.repeats):
        for number, (label, overrides) in enumerate(configs.items()):
            name = f"r{repeat}-c{number}"
            speeds[label].append(run_once(root, runs, name, overrides, args.steps))
            print(f"repeat {repeat + 1}: {label}: {speeds[label][-1]:,.0f} images/s", flush=True)
    return speeds


def report(speeds: dict[str, list[float]], args: argparse.Namespace) -> None:
    base = statistics.median(speeds["logger=[]"])
    print(
        f"\nFashionMNIST CNN, batch 256, CPU, in-memory path, logging.every_n_steps=50; "
        f"medians of {args.repeats} alternating runs of {args.steps} steps\n"
    )
    print("| logger | images/s | ratio to logger=[] | runs |")
    print("|---|---:|---:|---|")
    for label, values in speeds.items():
        speed = statistics.median(values)
        each = ", ".join(f"{v:,.0f}" for v in values)
        print(f"| `{label}` | {speed:,.0f} | {speed / base:.3f} | {each} |")


if __name__ == "__main__":
    main()
