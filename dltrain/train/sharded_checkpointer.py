"""Sharded checkpoints for distributed=fsdp: one torch.distributed.checkpoint (DCP) folder per
save, published atomically, resumable on any number of processes.

``checkpoints/last.dcp/`` holds the model and optimizer as DCP shards (every rank writes its
own; ``get_state_dict``/``set_state_dict`` of torch.distributed.checkpoint.state_dict name them
by parameter, so a load reshards them to the new world size) and ``train_state.pt``: the rest
of what Checkpointer saves (progress, best, train sums, every rank's RNG, scheduler, GradScaler,
callbacks, config), written by rank 0 and loaded with ``weights_only=True``. DCP's own loader
unpickles non-tensor items (the optimizer's param_groups) with ``weights_only=False``;
``SafeLoadPlanner`` reads them with ``weights_only=True`` instead.

A save is written into ``.last.dcp.tmp`` and published by two renames (last.dcp ->
.last.dcp.old, .last.dcp.tmp -> last.dcp): a kill at any moment leaves a whole checkpoint under
last.dcp or, between the renames, under .last.dcp.old, which ``newest_sharded`` resumes from.
best.pt stays a plain state_dict (the full weights gathered on rank 0), so eval, predict and
export read it as from any run.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.default_planner import (
    DefaultLoadPlanner,
    _EmptyStateDictLoadPlanner,
)
from torch.distributed.checkpoint.planner import ReadItem
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)
from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

from dltrain.distributed import liveness
from dltrain.errors import UserError
from dltrain.train import checkpoint
from dltrain.train.checkpointer import Checkpointer, Restored
from dltrain.train.state import TrainState

LAST = "last.dcp"
TRAIN_STATE = "train_state.pt"
SHARDED_PARTS = ("model", "optimizer")  # in DCP shards; the other parts go to train_state.pt


def newest_sharded(ckpt_dir: Path) -> Path | None:
    """The folder a run continues from: last.dcp, or .last.dcp.old when a kill fell between
    the two renames of a publish; None when there is neither."""
    for name in (LAST, f".{LAST}.old"):
        if (ckpt_dir / name / TRAIN_STATE).is_file():
            return ckpt_dir / name
    return None


class SafeLoadPlanner(DefaultLoadPlanner):
    """DCP's default load planner, with non-tensor items unpickled as weights_only=True."""

    def load_bytes(self, read_item: ReadItem, value: io.BytesIO) -> None:
        _set_loaded(self, read_item, torch.load(value, weights_only=True))


class _SafeReadAllPlanner(_EmptyStateDictLoadPlanner):
    """Reads a whole DCP folder into an empty dict (for comparisons), weights_only=True: DCP's
    own ``_load_state_dict_from_keys`` with this planner instead of its pickle-loading one."""

    def load_bytes(self, read_item: ReadItem, value: io.BytesIO) -> None:
        _set_loaded(self, read_item, torch.load(value, weights_only=True))


def _set_loaded(planner: DefaultLoadPlanner, read_item: ReadItem, value: Any) -> None:
    """Where DefaultLoadPlanner.load_bytes puts a loaded item."""
    fqn = read_item.dest_index.fqn
    if planner.flatten_state_dict:
        set_element(planner.original_state_dict, planner.mappings[fqn], value)
    else:
        planner.state_dict[fqn] = value


def read_sharded(path: Path) -> dict[str, Any]:
    """A sharded checkpoint as one plain dict in this process (no process group): the DCP
    ``model`` and ``optimizer`` with the train_state.pt entries (for comparing runs)."""
    loaded: dict[str, Any] = {}  # filled by the planner from the folder's metadata
    reader = dcp.FileSystemReader(str(path))
    _load_state_dict(loaded, storage_reader=reader, planner=_SafeReadAllPlanner(), no_dist=True)
    saved = checkpoint.safe_load(path / TRAIN_STATE, f"checkpoint {path}", "It is damaged.")
    return {**saved, **loaded}


class ShardedCheckpointer(Checkpointer):
    """Checkpointer's contract (what is saved, restored, kept) with DCP folders."""

    @property
    def last(self) -> Path:
        return self.dir / LAST

    def save(self, state: TrainState, names: tuple[str, ...], keep_step: bool = False) -> None:
        """DCP shards from every rank, then rank 0 publishes them with the train state."""
        if not self.writes:
            return
        entries, sums, per_rank = self._gather(state)
        model, optimizer = self.parts["model"], self.parts["optimizer"]
        partial = self.dir / f".{LAST}.tmp"
        model_state, optim_state = get_state_dict(model, optimizer)
        dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=str(partial))
        full = _full_weights(model) if "best.pt" in names else None  # all ranks gather
        try:
            if self.ctx.is_main:
                saved = {n: p.state_dict() for n, p in self.parts.items() if n not in SHARDED_PARTS}
                saved.update(self._train_entries(entries, sums, per_rank))
                checkpoint.save_atomic(saved, partial / TRAIN_STATE)
                _publish(partial, self.last)
                if full is not None:
                    checkpoint.save_atomic({**saved, "model": full}, self.dir / "best.pt")
                if keep_step:
                    self._keep_step_copy(state.progress.step)
        finally:
            liveness.wait_for_rank0()
        self.newest = (self.last, state.progress.step)

    def _keep_step_copy(self, step: int) -> None:
        """A folder of hard links to last.dcp's files named after the step; only the newest
        ``keep_last`` stay."""
        if self.keep_last <= 0:
            return
        target = self.dir / f"step-{step:09d}.dcp"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.last, target, copy_function=os.link)
        for old in sorted(self.dir.glob("step-*.dcp"))[: -self.keep_last]:
            shutil.rmtree(old)

    def clear_leftovers(self, source: Path | None) -> None:
        """Checkpointer's clean-up, and a killed save's folder; .last.dcp.old once last.dcp
        is whole again."""
        super().clear_leftovers(source)
        if not self.ctx.is_main:
            return
        shutil.rmtree(self.dir / f".{LAST}.tmp", ignore_errors=True)
        if (self.last / TRAIN_STATE).is_file():
            shutil.rmtree(self.dir / f".{LAST}.old", ignore_errors=True)
        if source is None or source.resolve().parent != self.dir.resolve():
            for stale in self.dir.glob("step-*.dcp"):
                shutil.rmtree(stale)

    def restore(self, path: Path, device: torch.device) -> Restored:
        """Load the shards into this world size's sharding, then the train state."""
        saved = _train_state(path, device)
        model, optimizer = self.parts["model"], self.parts["optimizer"]
        model_state, optim_state = get_state_dict(model, optimizer)
        loaded = {"model": model_state, "optimizer": optim_state}
        try:
            dcp.load(loaded, checkpoint_id=str(path), planner=SafeLoadPlanner())
        except Exception as err:  # DCP wraps every reader failure in its CheckpointException
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(
                f"checkpoint {path} does not fit this run ({first}). Resume it with the model "
                "and optimizer it was trained with (see the run folder's config.yaml)."
            ) from None
        set_state_dict(
            model, optimizer, model_state_dict=loaded["model"], optim_state_dict=loaded["optimizer"]
        )
        for name, part in self.parts.items():
            if name not in SHARDED_PARTS and saved.get(name) is not None:
                part.load_state_dict(saved[name])
        return self._resumed(saved, path, device)

    def load_weights(self, state_dict: Mapping[str, Any], source: str) -> None:
        """A plain (full) state_dict into the sharded model: each rank keeps its shard."""
        options = StateDictOptions(full_state_dict=True)
        set_model_state_dict(self.parts["model"], dict(state_dict), options=options)


def _full_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The full state_dict, gathered to rank 0's host memory (empty on the other ranks)."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)


def _train_state(path: Path, device: torch.device) -> dict[str, Any]:
    state_file = path / TRAIN_STATE
    if not state_file.is_file():
        raise UserError(
            f"{path} is not a sharded dltrain checkpoint (it has no {TRAIN_STATE}). Pass a "
            "run folder's checkpoints/last.dcp, or resume=auto in the run's folder."
        )
    return checkpoint.safe_load(
        state_file, f"checkpoint {state_file}", "It is truncated or damaged.", device
    )


def _publish(partial: Path, target: Path) -> None:
    """Make the whole ``partial`` folder ``target``: flushed to disk, then two renames."""
    for file in partial.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    old = target.with_name(f".{target.name}.old")
    if (target / TRAIN_STATE).is_file():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    else:  # not a whole checkpoint (nothing a run resumes from)
        shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
