#!/usr/bin/env python
"""dltrain against hand-written loops: images/s, time to first step and peak memory.

    python scripts/bench.py                       # CPU, FashionMNIST-format data it generates
    python scripts/bench.py --device cuda         # adds fp32 / bf16 / fp16 rows on a GPU
    python scripts/bench.py --variants be         # only some of the runs (no ratio line)

Same machine, data, model (the tutorials' FashionMNIST CNN), batch (256), optimizer (Adam
1e-3) and number of timed steps after warm-up, for:
  a  the tutorial's loop: torchvision FashionMNIST + ToTensor per sample + DataLoader
  b  a hand-written loop on tensors already in memory (on the device)
  c  dltrain train data.loader=torch  (same per-sample pipeline as a, NCHW)
  d  dltrain train data.loader=memory (same data path as b, NCHW)
  e  dltrain train with its defaults (in-memory, channels_last chosen automatically)
Runs alternate (a c b d e a c b d e ...) so machine noise hits all alike; each is a fresh
process. The table (Markdown) gives the median of the repeats.
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

VARIANTS = {
    "a": "tutorial loop (torchvision + ToTensor + DataLoader)",
    "b": "hand-written loop, tensors in memory",
    "c": "dltrain, data.loader=torch",
    "d": "dltrain, data.loader=memory",
    "e": "dltrain defaults (memory + channels_last auto)",
}


# ---------------------------------------------------------------- hand-written loops (a, b)
def handwritten(
    variant: str, root: str, steps: int, warmup: int, device: str, precision: str, first_only: bool
) -> dict:
    """The loop a tutorial reader writes; returns images/s over ``steps`` after ``warmup``."""
    import torch
    from torch import nn

    from dltrain.models.classic import FashionCNN

    torch.manual_seed(0)
    dev = torch.device(device)
    model = FashionCNN().to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    scaler = torch.amp.GradScaler(dev.type, enabled=precision == "fp16")
    if variant == "a":
        import torchvision
        from torchvision import transforms

        data = torchvision.datasets.FashionMNIST(root, train=True, transform=transforms.ToTensor())
        loader = torch.utils.data.DataLoader(
            data, batch_size=256, shuffle=True, drop_last=True, pin_memory=dev.type == "cuda"
        )
        batches = iter(loader)
    else:
        import torchvision

        raw = torchvision.datasets.FashionMNIST(root, train=True)
        images = raw.data.unsqueeze(1).to(dev).float().div_(255.0)
        targets = raw.targets.to(dev)

        def tensor_batches():
            while True:
                order = torch.randperm(len(targets), device=dev)
                for start in range(0, len(order) - 255, 256):
                    picked = order[start : start + 256]
                    yield images[picked], targets[picked]

        batches = tensor_batches()
    times = {}
    total = 1 if first_only else warmup + steps
    for step in range(1, total + 1):
        x, y = next(batches)
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            out = model(x)
        loss = nn.functional.cross_entropy(out.float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if step in (1, warmup, total):
            loss.item()  # wait for the device, as dltrain does at its log steps
            times[step] = time.time()
    speed = None if first_only else steps * 256 / (times[total] - times[warmup])
    return {"first_step_time": times[1], "images_per_sec": speed}


# ---------------------------------------------------------------- dltrain runs (c, d, e)
def dltrain_args(
    variant: str,
    root: str,
    run: Path,
    steps: int,
    warmup: int,
    device: str,
    precision: str,
    first_only: bool,
) -> list[str]:
    every = 1 if first_only else warmup
    args = [
        sys.executable,
        "-m",
        "dltrain",
        "train",
        f"data.root={root}",
        "data.download=false",
        "data.val_split=0",
        "data.batch_size=256",
        "data.drop_last=true",
        f"trainer.max_steps={1 if first_only else warmup + steps}",
        "trainer.max_epochs=100",
        f"logging.every_n_steps={every}",
        "logging.progress=off",
        "checkpoint.monitor=train/loss",
        f"device={device}",
        f"precision={precision}",
        f"hydra.run.dir={run}",
    ]
    if variant == "c":
        args += ["data.loader=torch", "trainer.channels_last=false"]
    elif variant == "d":
        args += ["data.loader=memory", "trainer.channels_last=false"]
    return args


def dltrain_result(run: Path, steps: int, warmup: int, first_only: bool) -> dict:
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    at = {e["step"]: e["time"] for e in events if "time" in e}
    if first_only:
        return {"first_step_time": at[1], "images_per_sec": None}
    return {
        "first_step_time": None,
        "images_per_sec": steps * 256 / (at[warmup + steps] - at[warmup]),
    }


# ---------------------------------------------------------------- driver
def measure(variant: str, options: argparse.Namespace, precision: str, first_only: bool) -> dict:
    """One fresh process; adds its peak memory and its time to first step."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{variant}-"))
    if variant in "ab":
        command = [
            sys.executable,
            __file__,
            "--worker",
            variant,
            "--root",
            str(options.root),
            "--steps",
            str(options.steps),
            "--warmup",
            str(options.warmup),
            "--device",
            options.device,
            "--precision-one",
            precision,
            "--out",
            str(work / "out.json"),
        ] + (["--first-only"] if first_only else [])
    else:
        command = dltrain_args(
            variant,
            str(options.root),
            work / "run",
            options.steps,
            options.warmup,
            options.device,
            precision,
            first_only,
        )
    started = time.time()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"variant {variant} failed:\n{stderr}")
    if variant in "ab":
        result = json.loads((work / "out.json").read_text())
    else:
        result = dltrain_result(work / "run", options.steps, options.warmup, first_only)
    if result["first_step_time"] is not None:
        result["first_step"] = result["first_step_time"] - started
    result["peak_mib"] = usage.ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None, help="FashionMNIST root (generated)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", default=None, help="default: fp32 on CPU, all on CUDA")
    parser.add_argument("--variants", default="acbde", help="which runs, in alternating order")
    parser.add_argument("--worker", choices=["a", "b"], help=argparse.SUPPRESS)
    parser.add_argument("--precision-one", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--first-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        result = handwritten(
            options.worker,
            str(options.root),
            options.steps,
            options.warmup,
            options.device,
            options.precision_one,
            options.first_only,
        )
        options.out.write_text(json.dumps(result))
        return
    if options.root is None:
        options.root = Path(tempfile.mkdtemp(prefix="bench-fmnist-"))
        # In a child: a forked child inherits this process's peak RSS (ru_maxrss), so the
        # parent must stay small for the children's peaks to be their own.
        write = "from dltrain.testing.fake_data import write_fake_mnist as w; import sys; "
        write += "w(sys.argv[1], train_size=60000, test_size=1000)"
        subprocess.run([sys.executable, "-c", write, str(options.root)], check=True)
    precisions = (
        options.precisions or ("fp32,bf16,fp16" if options.device == "cuda" else "fp32")
    ).split(",")
    for precision in precisions:
        order = [v for v in options.variants if v in VARIANTS]
        speeds: dict[str, list[float]] = {v: [] for v in order}
        firsts: dict[str, list[float]] = {v: [] for v in order}
        peaks: dict[str, list[float]] = {v: [] for v in order}
        for _ in range(options.repeats):
            for variant in order:
                result = measure(variant, options, precision, first_only=False)
                speeds[variant].append(result["images_per_sec"])
                peaks[variant].append(result["peak_mib"])
            for variant in order:
                firsts[variant].append(measure(variant, options, precision, True)["first_step"])
        report(speeds, firsts, peaks, options, precision)


def report(
    speeds: dict, firsts: dict, peaks: dict, options: argparse.Namespace, precision: str
) -> None:
    median = {v: statistics.median(x) for v, x in speeds.items()}
    print(
        f"\n### {options.device}, {precision}: FashionMNIST CNN, batch 256, Adam, "
        f"{options.steps} timed steps after {options.warmup}, median of {options.repeats}\n"
    )
    print("| run | images/s | time to first step (s) | peak memory (MiB) |")
    print("|---|---:|---:|---:|")
    for variant, title in VARIANTS.items():
        if variant not in median:
            continue
        print(
            f"| {variant}: {title} | {median[variant]:,.0f} | "
            f"{statistics.median(firsts[variant]):.2f} | {max(peaks[variant]):,.0f} |"
        )
    if set(median) != set(VARIANTS):
        return  # the ratios need every run
    first = {v: statistics.median(x) for v, x in firsts.items()}
    print(
        f"\nc/a = {median['c'] / median['a']:.2f}   d/b = {median['d'] / median['b']:.2f}   "
        f"e/a = {median['e'] / median['a']:.2f}   e/b = {median['e'] / median['b']:.2f}   "
        f"first step: d - b = {first['d'] - first['b']:+.2f} s   "
        f"peak memory d/b = {max(peaks['d']) / max(peaks['b']):.2f}"
    )


if __name__ == "__main__":
    main()
