#!/usr/bin/env python
"""What each batch augmentation costs the FashionMNIST CNN's training step, in images/s.

    python scripts/bench_augment.py                    # CPU, batch 256, 5 alternating repeats
    python scripts/bench_augment.py --steps 30 --repeats 7 --device cuda

One process, the in-memory data path as `dltrain train` builds it (``build_data`` +
``build_loader``: gather, convert, augment per sample on the device, normalise, mix) on
generated FashionMNIST-format files, and the training step of the tutorials' CNN (Adam 1e-3,
cross-entropy with label smoothing 0.1, channels_last as dltrain's default picks it). Every
configuration runs ``--steps`` timed steps after ``--warmup``; configurations alternate within
each repeat (none, flip, crop, ..., none, flip, ...), so machine noise hits all alike, and the
table gives the median images/s, the ratio to no augmentation, and the augmentation's own time
per batch (producing the batches alone) as a share of the plain step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

CONFIGS: dict[str, list[dict]] = {
    "none": [],
    "horizontal_flip": [{"name": "horizontal_flip"}],
    "random_crop (28 with padding 4)": [{"name": "random_crop", "size": 28, "padding": 4}],
    "random_rotation (15)": [{"name": "random_rotation", "degrees": 15}],
    "random_affine (10 deg, 0.1 shift, 0.9-1.1 scale)": [
        {"name": "random_affine", "degrees": 10, "translate": [0.1, 0.1], "scale": [0.9, 1.1]}
    ],
    "color_jitter (0.4 brightness and contrast)": [
        {"name": "color_jitter", "brightness": 0.4, "contrast": 0.4}
    ],
    "random_erasing": [{"name": "random_erasing"}],
    "rand_augment (2 ops at 9)": [{"name": "rand_augment"}],
    "trivial_augment": [{"name": "trivial_augment"}],
    "mixup (0.8)": [{"name": "mixup"}],
    "cutmix (1.0)": [{"name": "cutmix"}],
    "strong recipe": [
        {"name": "rand_augment"},
        {"name": "mixup"},
        {"name": "cutmix"},
        {"name": "random_erasing"},
    ],
}


def data_config(root: Path, transforms: list[dict]) -> dict:
    from dltrain.config.compose import compose
    from dltrain.config.freeze import to_plain

    cfg = to_plain(compose(["data=fashionmnist", f"data.root={root}", "data.download=false"]))
    return {**cfg["data"], "train_transforms": transforms}


class Bench:
    """One configuration: its training batches and a fresh model, timed step by step."""

    def __init__(self, root: Path, transforms: list[dict], device) -> None:
        import torch

        from dltrain.components.losses import build_loss
        from dltrain.data.build import build_data
        from dltrain.data.loaders import build_loader, loader_kind
        from dltrain.models.classic import FashionCNN

        cfg = data_config(root, transforms)
        splits = build_data(cfg)
        assert loader_kind(splits.train, cfg) == "memory", "every name has a batch form"
        self.batches = build_loader(splits.train, cfg, True, 0, device, kind="memory")
        self.epoch, self.device = 0, device
        self.model = FashionCNN().to(device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss_fn = build_loss({"name": "cross_entropy", "label_smoothing": 0.1})
        self.iterator = iter(())

    def next_batch(self):
        try:
            return next(self.iterator)
        except StopIteration:
            self.epoch += 1
            self.batches.sampler.set_epoch(self.epoch)
            self.iterator = iter(self.batches)
            return next(self.iterator)

    def step(self) -> int:
        import torch

        from dltrain.train.loop import to_device

        inputs, targets = self.next_batch()
        inputs = to_device(inputs, self.device, channels_last=True)
        loss = self.loss_fn(self.model(inputs), targets)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return len(inputs)

    def images_per_second(self, steps: int, warmup: int) -> float:
        for _ in range(warmup):
            self.step()
        started, images = time.perf_counter(), 0
        for _ in range(steps):
            images += self.step()
        return images / (time.perf_counter() - started)

    def batch_milliseconds(self, count: int) -> float:
        """Producing batches alone (gather, convert, augment, normalise, mix)."""
        import torch

        started = time.perf_counter()
        for _ in range(count):
            self.next_batch()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - started) / count * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    parser.add_argument("--train-size", type=int, default=12_000)
    parser.add_argument("--only", default="", help="comma-separated names of CONFIGS (and none)")
    args = parser.parse_args()

    import torch

    from dltrain.testing.fake_data import write_fake_mnist

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_fake_mnist(root, train_size=args.train_size, test_size=100, style="garments")
        chosen = {"none", *filter(None, args.only.split(","))} if args.only else set(CONFIGS)
        configs = {name: specs for name, specs in CONFIGS.items() if name in chosen}
        benches = {name: Bench(root, specs, device) for name, specs in configs.items()}
        speeds: dict[str, list[float]] = {name: [] for name in configs}
        batch_ms: dict[str, list[float]] = {name: [] for name in configs}
        for repeat in range(args.repeats):
            for name, bench in benches.items():  # alternating: one run of each per repeat
                speeds[name].append(bench.images_per_second(args.steps, args.warmup))
                batch_ms[name].append(bench.batch_milliseconds(args.steps))
            print(f"repeat {repeat + 1}/{args.repeats} done", flush=True)
    report(speeds, batch_ms, args, torch.get_num_threads())


def report(speeds: dict, batch_ms: dict, args: argparse.Namespace, threads: int) -> None:
    base = statistics.median(speeds["none"])
    base_step_ms = 256 / base * 1e3
    base_batch = statistics.median(batch_ms["none"])
    print(
        f"\nFashionMNIST CNN, batch 256, {args.device} ({threads} threads), in-memory path; "
        f"medians of {args.repeats} alternating repeats of {args.steps} steps\n"
    )
    print("| augmentation | images/s | ratio to none | augmentation ms per batch | share of step |")
    print("|---|---:|---:|---:|---:|")
    for name in speeds:
        speed = statistics.median(speeds[name])
        extra = max(statistics.median(batch_ms[name]) - base_batch, 0.0)
        share = extra / base_step_ms * 100
        print(f"| {name} | {speed:,.0f} | {speed / base:.2f} | {extra:.1f} | {share:.0f}% |")


if __name__ == "__main__":
    main()
