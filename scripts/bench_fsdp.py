"""Peak memory per process: FSDP2 vs DDP, with and without activation checkpointing.

Each configuration is a fresh ``torchrun --nproc-per-node=N`` (CPU, gloo) of this file as the
worker: a timm ViT-S/16 at 128x128 (22M parameters; 64 tokens) trains a few AdamW steps on
random data, wrapped exactly as dltrain wraps it (``distributed/fsdp.py shard_model``,
``train/activation_checkpointing.py``; DDP as train/run.py). Memory is the process's peak
resident set (``ru_maxrss``) above what it held after importing torch and timm, so the table
shows what the model, its gradients, the optimizer state and the activations cost per
process. Run it on a quiet machine:

    python scripts/bench_fsdp.py                 # 2 processes, batch 16 per process
    python scripts/bench_fsdp.py --nproc 2 --batch 32 --steps 3 --arch vit_small_patch16_224
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = [("ddp", False), ("ddp", True), ("fsdp", False), ("fsdp", True)]


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def worker(args: argparse.Namespace) -> None:
    import timm
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from dltrain.config.schema import FsdpConfig
    from dltrain.distributed.fsdp import shard_model
    from dltrain.train.activation_checkpointing import checkpoint_activations

    dist.init_process_group("gloo")
    torch.manual_seed(0)
    base = _rss_mib()
    model = timm.create_model(args.arch, img_size=args.size, num_classes=10)
    if args.ac:
        checkpoint_activations(model, ["Block"])
    if args.mode == "fsdp":
        shard_model(model, FsdpConfig(), "fp32")
        train_model = model
    else:
        train_model = DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    inputs = torch.randn(args.batch, 3, args.size, args.size)
    targets = torch.randint(0, 10, (args.batch,))
    started = time.perf_counter()
    for _ in range(args.steps):
        loss = torch.nn.functional.cross_entropy(train_model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    seconds = (time.perf_counter() - started) / args.steps
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"rank": dist.get_rank(), "peak_mib": peak - base, "step_s": seconds}
    Path(args.out, f"rank{dist.get_rank()}.json").write_text(json.dumps(report))
    dist.destroy_process_group()


def run_config(args: argparse.Namespace, mode: str, ac: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={args.nproc}", __file__, "--worker", f"--mode={mode}",
            f"--ac={int(ac)}", f"--out={out}", f"--arch={args.arch}", f"--size={args.size}",
            f"--batch={args.batch}", f"--steps={args.steps}",
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(command, env=env, check=True, timeout=1800, capture_output=True)
        reports = [json.loads(p.read_text()) for p in Path(out).glob("rank*.json")]
    return {
        "peak_mib": max(r["peak_mib"] for r in reports),
        "step_s": max(r["step_s"] for r in reports),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="ddp", help=argparse.SUPPRESS)
    parser.add_argument("--ac", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--arch", default="vit_small_patch16_224")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16, help="per process")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    print(
        f"{args.arch} at {args.size}x{args.size}, batch {args.batch} per process, "
        f"{args.nproc} processes (CPU, gloo), AdamW, {args.steps} steps"
    )
    print(f"{'wrapping':<10}{'act. ckpt':<11}{'peak MiB/process':>18}{'s/step':>9}")
    for mode, ac in CONFIGS:
        result = run_config(args, mode, ac)
        row = f"{mode:<10}{'on' if ac else 'off':<11}{result['peak_mib']:>18.0f}"
        print(f"{row}{result['step_s']:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
