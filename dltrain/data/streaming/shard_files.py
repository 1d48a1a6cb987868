"""Which tar shards a pattern names, and how many samples each holds (torch-free).

A pattern is a path, a glob (``train-*.tar``) or a brace range (``shards-{000..127}.tar``, by
the ``braceexpand`` package that webdataset itself uses); several are joined with ``::`` as in
webdataset. The sample counts (what steps per epoch and a whole-run scheduler need) come from
the ``dataset.json`` that ``dltrain shard`` writes next to the shards; shards made elsewhere are
counted once (tar headers only, no decode) and the counts cached next to them in
``.dltrain-shard-counts.json``, keyed by each file's size and modification time.
"""

from __future__ import annotations

import glob
import json
import os
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dltrain.errors import UserError

METADATA = "dataset.json"  # written by dltrain shard: classes, shape, mean/std, counts
COUNT_CACHE = ".dltrain-shard-counts.json"
META_PREFIX = "__"  # webdataset's meta files (``__key__``...) are not samples


@dataclass(frozen=True)
class ShardSet:
    """The shards of one split, in a fixed order, with the samples each holds."""

    paths: tuple[Path, ...]
    counts: tuple[int, ...]
    metadata: Mapping[str, Any]  # the folder's dataset.json, or {} without one

    @property
    def samples(self) -> int:
        return sum(self.counts)


def expand(pattern: str, key: str) -> list[Path]:
    """The existing files ``pattern`` names, sorted and without repeats (exit 2 for none)."""
    braceexpand = requirement("braceexpand").braceexpand
    found: list[str] = []
    for part in str(pattern).split("::"):
        for name in braceexpand(os.path.expanduser(part.strip())):
            found += sorted(glob.glob(name)) if glob.has_magic(name) else [name]
    missing = [name for name in found if not Path(name).is_file()]
    if missing or not found:
        what = f"{missing[0]} does not exist" if missing else "it matches no file"
        raise UserError(
            f"data.{key}={pattern}: {what}. Point data.{key} at tar shards (a path, a glob such "
            "as train-*.tar or a brace range such as train-{000000..000009}.tar), e.g. the "
            "ones `dltrain shard SRC OUT` writes."
        )
    return [Path(name) for name in dict.fromkeys(found)]


def requirement(module: str) -> Any:
    """An optional package of the streaming extra, or exit 2 saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"streaming data needs the package '{module}': pip install 'dltrain[streaming]' "
            "(webdataset, datasets)."
        ) from None


def read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / METADATA
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is not readable JSON ({err}). Write the shards again.") from None


def shard_set(pattern: str, key: str) -> ShardSet:
    """The shards of ``data.<key>`` with their sample counts (read or counted once)."""
    paths = expand(pattern, key)
    metadata = read_metadata(paths[0].parent)
    known = _listed_counts(metadata, paths[0].parent)
    cache_file = paths[0].parent / COUNT_CACHE
    cache = _read_cache(cache_file)
    counts, changed = [], False
    for path in paths:
        stamp = _stamp(path)
        if known.get(path.name, {}).get("bytes") == stamp[0]:
            counts.append(int(known[path.name]["samples"]))
            continue
        cached = cache.get(path.name)
        if cached is None or tuple(cached[:2]) != stamp:
            cache[path.name], changed = [*stamp, count_samples(path)], True
        counts.append(int(cache[path.name][2]))
    if changed:
        _write_json(cache_file, cache)
    return ShardSet(tuple(paths), tuple(counts), metadata)


def count_samples(path: Path) -> int:
    """Samples in a tar shard: its distinct keys (file names up to the first dot)."""
    try:
        with tarfile.open(path) as tar:
            keys = {
                member.name.split("/")[-1].split(".", 1)[0]
                for member in tar
                if member.isfile() and not member.name.split("/")[-1].startswith(META_PREFIX)
            }
    except (OSError, tarfile.TarError) as err:
        raise UserError(
            f"{path} is not a readable tar shard ({type(err).__name__}: {err}). Replace it "
            "with a good copy or write the shards again (dltrain shard)."
        ) from None
    return len(keys)


def _listed_counts(metadata: Mapping[str, Any], folder: Path) -> dict[str, dict[str, int]]:
    """file name -> {samples, bytes} of every shard dataset.json lists."""
    listed = {}
    for split in metadata.get("splits", {}).values():
        for shard in split.get("shards", []):
            listed[shard["file"]] = shard
    return listed


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _read_cache(path: Path) -> dict[str, list[int]]:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}  # a damaged cache is counted again


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically; a folder without write access keeps no cache (the shards are counted again)."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w") as file:
            json.dump(data, file, indent=1)
        os.replace(temporary, path)
    except OSError:
        pass
