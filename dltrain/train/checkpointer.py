"""What a checkpoint holds, and saving and restoring it exactly.

A checkpoint is everything a run needs to continue as if it never stopped: weights, optimizer,
scheduler, GradScaler, the callbacks' states, the position inside the epoch, the partial metric
sums of that epoch (summed over ranks), every rank's extra-metric states and every RNG of every
rank. ``save`` is called by all ranks (it gathers); rank 0 writes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from dltrain.distributed import liveness
from dltrain.distributed.context import DistContext
from dltrain.distributed.rank0_files import read_from_rank0
from dltrain.errors import UserError
from dltrain.train import checkpoint
from dltrain.train.run_files import MetricsFile, remove_partial_writes
from dltrain.train.seeding import capture_rng, restore_rng
from dltrain.train.state import TrainState

log = logging.getLogger("dltrain")


@dataclass
class Restored:
    """A checkpoint's ``TrainState`` entries, for ``TrainState.resume``."""

    progress: dict[str, int]
    best: dict[str, Any]
    train_sums: torch.Tensor
    train_extras: dict[str, Any] | None = None  # this rank's extra-metric states


class Checkpointer:
    def __init__(
        self,
        ckpt_dir: Path,
        ctx: DistContext,
        parts: Mapping[str, Any],
        metrics_file: MetricsFile,
        cfg: Mapping[str, Any],
        keep_last: int = 0,
        writes: bool = True,
        best_weights: Callable[[], Mapping[str, Any] | None] | None = None,
    ) -> None:
        """``parts``: name -> object with state_dict/load_state_dict (model, optimizer, ...);
        ``writes=False`` (trainer.fast_dev_run): ``save`` writes nothing. ``best_weights``: the
        weights best.pt keeps instead of the model's (a callback's EMA or SWA weights), None
        when it returns None; last.pt keeps the model's: training goes on."""
        self.dir, self.ctx, self.parts = ckpt_dir, ctx, parts
        self.best_weights = best_weights
        self.metrics_file, self.cfg, self.keep_last = metrics_file, cfg, keep_last
        self.writes = writes
        # The checkpoint a failed run can go back to, and its step: the last save of this
        # process or the one it resumed from; None until there is one (known on every rank).
        self.newest: tuple[Path, int] | None = None

    @property
    def last(self) -> Path:
        return self.dir / "last.pt"

    def save(self, state: TrainState, names: tuple[str, ...], keep_step: bool = False) -> None:
        """Write the parts' state_dicts and ``state``'s entries to ``names`` (all ranks call)."""
        if not self.writes:
            return
        entries, sums, per_rank = self._gather(state)
        try:
            if self.ctx.is_main:
                self._write(entries, sums, per_rank, names)
                if keep_step:
                    self._keep_step_copy(state.progress.step)
        finally:  # rank 0 marks its write over (even a failed one); the others wait for that
            liveness.wait_for_rank0()  # however long the write takes: no distributed.timeout
        self.newest = (self.last, state.progress.step)

    def _gather(self, state: TrainState) -> tuple[dict[str, Any], torch.Tensor, list]:
        """``state``'s entries, the train sums summed over ranks, each rank's (RNG states,
        extra-metric states); collectives, so every rank calls it."""
        entries = state.checkpoint_entries()
        sums = entries["train_sums"].clone()
        per_rank = [(capture_rng(), entries["train_extras"])]
        if self.ctx.enabled:
            dist.all_reduce(sums)
            per_rank = [None] * self.ctx.world_size
            dist.all_gather_object(per_rank, (capture_rng(), entries["train_extras"]))
        return entries, sums, per_rank

    def _write(
        self, entries: Mapping[str, Any], sums: torch.Tensor, per_rank: list, names: tuple[str, ...]
    ) -> None:
        """``per_rank``: each rank's (RNG states, extra-metric states)."""
        saved = {name: part.state_dict() for name, part in self.parts.items()}
        saved["model"] = checkpoint.strip_prefixes(saved["model"])
        saved.update(self._train_entries(entries, sums, per_rank))
        for name in names:
            written = self._best(saved) if name == "best.pt" else saved
            checkpoint.save_atomic(written, self.dir / name)

    def _train_entries(
        self, entries: Mapping[str, Any], sums: torch.Tensor, per_rank: list
    ) -> dict[str, Any]:
        """What a checkpoint holds besides the parts' state_dicts."""
        saved = {
            "progress": entries["progress"],
            "best": entries["best"],
            "train_sums": sums.cpu(),
            "metrics_lines": self.metrics_file.lines(),
            "rng": [rng for rng, _ in per_rank],
            "world_size": self.ctx.world_size,
            "config": dict(self.cfg),
        }
        if entries["train_extras"] is not None:
            saved["train_extras"] = [extras for _, extras in per_rank]
        return saved

    def _best(self, saved: dict[str, Any]) -> dict[str, Any]:
        """best.pt: the weights ``best_weights`` gives in place of the model's."""
        weights = self.best_weights() if self.best_weights is not None else None
        return saved if weights is None else {**saved, "model": checkpoint.strip_prefixes(weights)}

    def clear_leftovers(self, source: Path | None) -> None:
        """Before the first step (rank 0, the folder held): delete what killed processes left.

        Partial saves (``.last.pt.XXXXXXXX.tmp``) always. A run that does not continue a
        checkpoint of this folder (``source``: None, or another run's file) starts the folder's
        history afresh: an earlier attempt's best.pt, step copies and metrics (it died before
        its first last.pt) go, so none of them passes for this run's.
        """
        if not self.ctx.is_main:
            return
        remove_partial_writes(self.dir)
        if source is not None and source.resolve().parent == self.dir.resolve():
            return
        for stale in (self.dir / "best.pt", *self.dir.glob("step-*.pt")):
            stale.unlink(missing_ok=True)
        self.metrics_file.truncate(0)

    def _keep_step_copy(self, step: int) -> None:
        """A hard link of last.pt named after the step; only the newest ``keep_last`` stay."""
        if self.keep_last <= 0:
            return
        target = self.dir / f"step-{step:09d}.pt"
        target.unlink(missing_ok=True)
        os.link(self.last, target)
        for old in sorted(self.dir.glob("step-*.pt"))[: -self.keep_last]:
            old.unlink()

    def read(self, path: Path, device: torch.device) -> dict[str, Any] | None:
        """The checkpoint at ``path`` on every rank, None when there is none. Under DDP rank 0
        reads it and sends its bytes (rank0_files.py): the other nodes may not share the run
        folder's filesystem."""
        if not self.ctx.enabled:
            return checkpoint.load(path, map_location=device) if path.is_file() else None
        data = read_from_rank0(path, self.ctx, device)
        return None if data is None else checkpoint.load(path, map_location=device, data=data)

    def restore(self, path: Path, device: torch.device) -> Restored:
        saved = self.read(path, device)
        if saved is None:
            raise UserError(f"checkpoint {path} does not exist. Pass a .pt file or a run folder.")
        missing = [k for k in ("progress", "optimizer", "rng") if k not in saved]
        if missing:
            raise UserError(
                f"checkpoint {path} has weights but no training state ({missing}); "
                "it cannot be resumed. Load it as weights instead (model.weights=)."
            )
        self.load_weights(saved["model"], str(path))
        for name, part in self.parts.items():
            if name != "model" and saved.get(name) is not None:
                part.load_state_dict(saved[name])
        return self._resumed(saved, path, device)

    def load_weights(self, state_dict: Mapping[str, Any], source: str) -> None:
        """Load a plain state_dict (a checkpoint's ``model``) into the run's model."""
        checkpoint.load_model_weights(self.parts["model"], state_dict, source)

    def _resumed(self, saved: Mapping[str, Any], path: Path, device: torch.device) -> Restored:
        """Restore this rank's RNGs and the metrics file from a checkpoint's train entries;
        its ``TrainState`` entries."""
        progress = saved["progress"]
        if progress["batch"] and saved["world_size"] != self.ctx.world_size:
            raise UserError(
                f"{path} was saved mid-epoch by {saved['world_size']} process(es); resuming it "
                f"exactly needs the same number, not {self.ctx.world_size}."
            )
        rngs = saved["rng"]
        if self.ctx.rank < len(rngs):
            restore_rng(rngs[self.ctx.rank])
        self.newest = (path, progress["step"])
        sums = saved["train_sums"].to(device)
        if not self.ctx.is_main:
            sums = torch.zeros_like(sums)  # rank 0 carries the epoch's sums so far
        else:
            self.metrics_file.truncate(saved["metrics_lines"])
        extras = saved.get("train_extras") or []
        mine = extras[self.ctx.rank] if self.ctx.rank < len(extras) else None
        return Restored(progress, saved["best"], sums, mine)
