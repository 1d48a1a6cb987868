"""``dltrain shard SRC OUT``: turn data dltrain reads into WebDataset tar shards."""

from __future__ import annotations

from typing import Any

HELP = """\
Reads SRC with dltrain's own checked readers, then writes OUT/<split>-000000.tar, ... and
OUT/dataset.json (sample counts, classes, shape, mean/std), which data=webdataset reads:
  dltrain shard data/FashionMNIST/raw shards/ shard_size=10000
  dltrain train data=webdataset data.root=shards/"""

POSITIONAL = ("src", "out")


def run(args: list[str]) -> dict[str, Any]:
    from pathlib import Path

    from dltrain.cli.options import parse_options, usage
    from dltrain.errors import UserError

    bare = [arg for arg in args if "=" not in arg]
    if len(bare) > len(POSITIONAL):
        raise UserError(
            f"shard takes SRC and OUT, got {len(bare)} bare arguments: {' '.join(bare)}. "
            f"Usage: {usage('shard')}"
        )
    named = [f"{key}={value}" for key, value in zip(POSITIONAL, bare, strict=False)]
    options, _ = parse_options("shard", [*named, *(a for a in args if "=" in a)], data=False)
    from dltrain.data.streaming.writer import write_shards

    written = write_shards(
        Path(options["src"]).expanduser(), Path(options["out"]).expanduser(),
        options["shard_size"], options["format"], options["shuffle"],
        options["mask_threshold"], options["channels"], options["split"],
    )  # fmt: skip
    for name, split in written["splits"].items():
        where = f"{len(split['shards'])} shard(s)" if "shards" in split else "a datasets folder"
        print(f"{name}: {split['samples']} samples in {where}")
    mean = [round(value, 4) for value in written["mean"]]
    std = [round(value, 4) for value in written["std"]]
    print(
        f"dltrain: wrote {options['out']} ({written['num_classes']} classes, "
        f"mean {mean}, std {std})"
    )
    return written
