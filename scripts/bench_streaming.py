"""Streaming shards vs the image-folder DataLoader vs the in-memory path: images/s and peak RSS.

The same generated FashionMNIST-format images (``--images``, default 60,000) are read as one
training epoch of batches through dltrain's own data sets and loaders (no model: the data path
only), each kind in a fresh process: ``memory`` (data=fashionmnist, the in-memory path),
``imagefolder`` (data=imagefolder data.in_memory=false: one PNG file per image, decoded in
DataLoader workers), ``webdataset`` (tar shards written by ``dltrain shard``, streamed and
decoded in workers) and ``webdataset x10`` (the shards linked ``--grow`` times: a data set 10x
larger, whose peak memory must stay within 1.2x). Peak memory is the process's and its
workers' together, sampled every 20 ms as the proportional set size (PSS, from
/proc/PID/smaps_rollup: pages shared by forked workers counted once), less the same before the
data set is built (the imports); prints a Markdown table.

    python scripts/bench_streaming.py --out /tmp/bench_streaming
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

KINDS = ("memory", "imagefolder", "webdataset", "webdataset_grown")


def prepare(out: Path, images: int, grow: int, shard_size: int) -> None:
    """IDX files, an image folder of PNGs, shards, and the shards linked ``grow`` times."""
    import numpy as np
    from PIL import Image

    from dltrain.data.formats.idx import read_split
    from dltrain.data.streaming.writer import write_shards
    from dltrain.testing.fake_data import write_fake_mnist

    if (out / "done").exists():
        return
    write_fake_mnist(out, train_size=images, test_size=100)
    raw = out / "FashionMNIST" / "raw"
    pixels, labels = read_split(raw, "train", 10)
    for i, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        folder = out / "images" / "train" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(image)).save(folder / f"{i}.png")
    write_shards(raw, out / "shards", shard_size)
    grown = out / "grown"
    grown.mkdir()
    meta = json.loads((out / "shards" / "dataset.json").read_text())
    listed = []
    for copy in range(grow):
        for shard in meta["splits"]["train"]["shards"]:
            name = f"train-{copy:03d}-{shard['file'].split('-')[1]}"
            os.link(out / "shards" / shard["file"], grown / name)
            listed.append({**shard, "file": name})
    total = sum(shard["samples"] for shard in listed)
    meta["splits"] = {"train": {"samples": total, "shards": listed}}
    (grown / "dataset.json").write_text(json.dumps(meta))
    (out / "done").write_text("")


def data_config(kind: str, out: Path, workers: int, batch: int) -> dict:
    common = {
        "batch_size": batch, "num_workers": workers, "val_split": 0.0, "normalize": True,
        "mean": None, "std": None, "image_size": 28, "shape": [1, 28, 28], "num_classes": 10,
        "train_transforms": [], "loader": "auto", "drop_last": False,
    }  # fmt: skip
    if kind == "memory":
        return {**common, "name": "fashionmnist", "root": str(out), "download": False,
                "mask_threshold": None}  # fmt: skip
    if kind == "imagefolder":
        return {**common, "name": "imagefolder", "train_dir": str(out / "images" / "train"),
                "val_dir": None, "test_dir": None, "in_memory": False, "cache": False}  # fmt: skip
    folder = out / ("shards" if kind == "webdataset" else "grown")
    return {**common, "name": "webdataset", "train": f"{folder}/train-*.tar", "val": None,
            "test": None}  # fmt: skip


def tree_pss_mib(pid: int) -> float:
    """PSS of ``pid`` and every process below it, in MiB (0 for one that has gone)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


class PeakMemory:
    """The largest PSS of this process tree, sampled in a thread."""

    def __init__(self) -> None:
        self.peak, self.running = tree_pss_mib(os.getpid()), True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, tree_pss_mib(os.getpid()))
            time.sleep(0.02)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.peak


def measure(kind: str, out: Path, workers: int, batch: int) -> dict:
    """One epoch of training batches of ``kind``; images/s and peak RSS in MiB."""
    import torch

    from dltrain.data.build import build_data
    from dltrain.data.loaders import build_loader, loader_kind

    cfg = data_config(kind, out, workers, batch)
    baseline = tree_pss_mib(os.getpid())
    memory = PeakMemory()
    splits = build_data(cfg)
    loader = build_loader(splits.train, cfg, True, 0, torch.device("cpu"),
                          kind=loader_kind(splits.train, cfg))  # fmt: skip
    loader.sampler.set_epoch(1)
    started, seen = time.perf_counter(), 0
    for inputs, _ in loader:
        seen += len(inputs)
    seconds = time.perf_counter() - started
    peak = memory.stop()
    return {"kind": kind, "images": seen, "seconds": seconds, "images_per_sec": seen / seconds,
            "peak_mib": peak, "data_mib": peak - baseline}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_streaming"))
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--grow", type=int, default=10)
    parser.add_argument("--shard-size", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--measure", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.out, args.workers, args.batch)))
        return
    prepare(args.out, args.images, args.grow, args.shard_size)
    rows = []
    for kind in KINDS:
        command = [sys.executable, __file__, "--measure", kind, "--out", str(args.out),
                   "--workers", str(args.workers), "--batch", str(args.batch)]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    print(f"{args.images:,} images ({args.grow}x for the grown shards), batch {args.batch}, "
          f"{args.workers} workers, one epoch of the data path (no model)\n")  # fmt: skip
    print("| path | images | images/s | peak memory (PSS, MiB) | of it, the data path (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['kind']} | {row['images']:,} | {row['images_per_sec']:,.0f} | "
              f"{row['peak_mib']:,.0f} | {row['data_mib']:,.0f} |")  # fmt: skip
    ratio = rows[3]["peak_mib"] / rows[2]["peak_mib"]
    print(f"\nstreaming peak memory, {args.grow}x the data: {ratio:.2f}x (goal: at most 1.2x)")


if __name__ == "__main__":
    main()
