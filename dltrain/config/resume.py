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


def resumes(resume: str, run_dir: Path) -> bool:
    """Whether a run with this ``resume`` setting continues from a checkpoint."""
    return resume != "never" and (resume != "auto" or (run_dir / "checkpoints/last.pt").exists())


def refuse_existing_run(run_dir: Path, resume: str = "never", setting: str = "") -> None:
    """resume=never, or resume=PATH to another run's checkpoint, starts a history of its own:
    not in a folder that holds a run already (its metrics and best.pt would be replaced).
    ``setting`` names what starts afresh when it is not ``resume`` (trainer.fast_dev_run)."""
    checkpoints = run_dir / "checkpoints"
    if resume != "never" and Path(resume).expanduser().resolve().parent == checkpoints.resolve():
        return  # a checkpoint of this very run: it continues here
    if (checkpoints / "last.pt").exists() or (run_dir / "results.json").exists():
        fix = "" if setting else ", or use resume=auto to continue that run"
        raise UserError(
            f"{setting or f'resume={resume}'}, but {run_dir} already holds a run. Choose "
            f"another hydra.run.dir{fix}."
        )


def saved_config(cfg: dict[str, Any], run_dir: Path) -> tuple[dict[str, Any], str] | None:
    """The config of the run this one continues, and where it came from (None: a fresh run)."""
    if cfg["resume"] == "never":
        return None
    path = Path(cfg["resume"]).expanduser()
    if cfg["resume"] == "auto":
        path = run_dir / "checkpoints" / "last.pt"
        if not path.exists():
            return None
    from dltrain.train import checkpoint

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
