"""Which config may continue a run: the parts that keep a resumed run exact may not change.

Checked in the parent before config.yaml is overwritten, so a mismatch is exit 2 with the run
folder untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dltrain.errors import UserError

# The parts of a config that must not change when a run resumes from its last checkpoint.
RESUME_LOCKED = ("data", "model", "loss", "optimizer", "seed", "precision")
# A run's last checkpoint: a file, or (distributed=fsdp) a sharded folder, which is under
# .last.dcp.old while a save is being published (train/sharded_checkpointer.py).
LAST_NAMES = ("last.pt", "last.dcp", ".last.dcp.old")
SHARDED_STATE = "train_state.pt"  # a sharded folder's train state (progress, config, ...)


def last_checkpoint(run_dir: Path) -> Path | None:
    """The run folder's last checkpoint: checkpoints/last.pt or last.dcp; None if neither."""
    for name in LAST_NAMES:
        path = run_dir / "checkpoints" / name
        if path.is_file() or (path / SHARDED_STATE).is_file():
            return path
    return None


def resumes(resume: str, run_dir: Path) -> bool:
    """Whether a run with this ``resume`` setting continues from a checkpoint."""
    return resume != "never" and (resume != "auto" or last_checkpoint(run_dir) is not None)


def refuse_existing_run(run_dir: Path, resume: str = "never", setting: str = "") -> None:
    """resume=never, or resume=PATH to another run's checkpoint, starts a history of its own:
    not in a folder that holds a run already (its metrics and best.pt would be replaced).
    ``setting`` names what starts afresh when it is not ``resume`` (trainer.fast_dev_run)."""
    checkpoints = run_dir / "checkpoints"
    if resume != "never" and Path(resume).expanduser().resolve().parent == checkpoints.resolve():
        return  # a checkpoint of this very run: it continues here
    if last_checkpoint(run_dir) is not None or (run_dir / "results.json").exists():
        fix = "" if setting else ", or use resume=auto to continue that run"
        raise UserError(
            f"{setting or f'resume={resume}'}, but {run_dir} already holds a run. Choose "
            f"another hydra.run.dir{fix}."
        )


def saved_config(cfg: dict[str, Any], run_dir: Path) -> tuple[dict[str, Any], str] | None:
    """The config of the run this one continues, and where it came from (None: a fresh run)."""
    if cfg["resume"] == "never":
        return None
    path: Path | None = Path(cfg["resume"]).expanduser()
    if cfg["resume"] == "auto":
        path = last_checkpoint(run_dir)
        if path is None:
            return None
    _check_sharding_fits(path, cfg["distributed"]["name"])
    from dltrain.train import checkpoint

    if path.is_dir():  # a sharded checkpoint: its config is in the train state file
        state = checkpoint.safe_load(
            path / SHARDED_STATE, f"checkpoint {path}", "It is truncated or damaged."
        )
    else:
        state = checkpoint.load(path)  # a truncated or foreign file fails here, before any write
    if "config" not in state or "progress" not in state:
        raise UserError(
            f"{path} holds no training state to resume from; use it as "
            "weights (model.weights=PATH) instead."
        )
    return state["config"], str(path)


def check_resume_fits(cfg: dict[str, Any], found: tuple[dict[str, Any], str] | None) -> None:
    """A run may only be resumed by a config that keeps it exact; other changes are logged.

    ``found``: what ``saved_config`` read (None: a fresh run, nothing to fit)."""
    if found is None:
        return
    saved, origin = found
    locked = [
        f"{key}: {saved.get(key)!r} -> {cfg.get(key)!r}"
        for key in RESUME_LOCKED
        if saved.get(key) != cfg.get(key)
    ]
    if locked:
        raise UserError(
            f"{origin} holds a run with a different config, so resuming it would not be the "
            f"same run. Differences: {'; '.join(locked)}. Use another hydra.run.dir (or "
            "resume=never), or the original values."
        )
    harmless = [
        f"{key}: {saved.get(key)!r} -> {cfg.get(key)!r}"
        for key in cfg
        if key not in RESUME_LOCKED and saved.get(key) != cfg.get(key)
    ]
    if harmless:
        print(f"dltrain: resuming {origin} with changed settings: {'; '.join(harmless)}")


def _check_sharding_fits(path: Path, distributed: str) -> None:
    """A sharded checkpoint (a folder) resumes under distributed=fsdp, a file under the rest."""
    if path.is_dir() and distributed != "fsdp":
        raise UserError(
            f"{path} is a sharded checkpoint of a distributed=fsdp run; resume it with "
            "distributed=fsdp (any distributed.nproc_per_node)."
        )
    if path.is_file() and distributed == "fsdp":
        raise UserError(
            f"{path} is a checkpoint of a distributed=none or ddp run, and distributed=fsdp "
            "resumes sharded checkpoints only. Resume it as it was trained, or start a fresh "
            "run from its weights (model.weights=PATH)."
        )
