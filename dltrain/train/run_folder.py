"""One run per folder: the lock a run holds on its folder, and which folders a run may use.

The parent ``dltrain train`` (rank 0 under an external torchrun) takes ``RUN_DIR/.dltrain.lock``
(``flock``, exclusive, non-blocking) before anything is written there and holds it until the
run ends, so a second run on the same folder is refused instead of mixing its files with the
first one's. The folder must be new, empty, or a dltrain run (resume or restart it); a folder
of other files, a file, the current folder or one dltrain cannot write to is refused. Every
refusal is a UserError raised before the run writes anything. Torch-free.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dltrain.errors import UserError

LOCK_NAME = ".dltrain.lock"
# A config.yaml with these sections was written by dltrain (config/freeze.py).
RUN_CONFIG_SECTIONS = ("data", "model", "loss", "optimizer", "trainer", "checkpoint")
SWEEP_FILE = "multirun.yaml"  # what the sweeper writes in hydra.sweep.dir


@dataclass(frozen=True)
class RunFolder:
    """The folder a run (or a sweep) writes, as composed, and the Hydra key that picks it."""

    key: str  # hydra.run.dir, or hydra.sweep.dir for a sweep
    text: str  # the composed value, every interpolation (${now:...}) resolved once
    sweep: bool = False  # a sweep folder: its jobs' folders are inside

    @classmethod
    def of(cls, cfg: Any, multirun: bool) -> RunFolder:
        """The run folder (``multirun``: the sweep folder) of a composed config."""
        from omegaconf.errors import OmegaConfBaseException

        key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
        try:
            value = OmegaConf.select(cfg, key, throw_on_missing=True)
        except OmegaConfBaseException as err:
            raise UserError(
                f"{key} cannot be resolved: {err}. Fix the override of {key}."
            ) from None
        return cls(key, "" if value is None else str(value), sweep=multirun)

    @property
    def path(self) -> Path:
        return Path(self.text)

    def pin(self) -> str:
        """The override that makes Hydra use this very folder: ``${now:}`` is resolved once
        here, so the folder Hydra makes is the one that was checked and locked."""
        return f"{self.key}={hydra_quoted(self.text)}"


def hydra_quoted(value: str) -> str:
    """``value`` as a single-quoted Hydra override value (commas, spaces, ``=`` kept).

    Hydra unescapes backslashes only before a quote and at the end of a quoted value.
    """
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
    return f"'{escaped}'"


@contextmanager
def hold_run_folder(folder: RunFolder) -> Iterator[Path]:
    """Inside the block this process holds ``folder``'s lock; refuses a folder this run may
    not use (exit 2, nothing left behind: folders it made for nothing are removed again)."""
    _refuse_unusable(folder)
    created = _make_folder(folder)
    try:
        with _locked(folder):
            _refuse_foreign(folder)
            yield folder.path
    finally:
        for path in reversed(created):
            _remove_if_empty(path)


def _refuse_unusable(folder: RunFolder) -> None:
    path, key = folder.path, folder.key
    here = Path.cwd().resolve()
    where = path.resolve()
    if where == here or where in here.parents:
        kind = "sweep" if folder.sweep else "run"
        raise UserError(
            f"{key}={folder.text!r} would make {where} (the current folder"
            f"{'' if where == here else ' or one above it'}) the {kind} folder, mixing the "
            f"{kind}'s files with yours. Give the {kind} a folder of its own, e.g. "
            f"{key}={'multirun/my-sweep' if folder.sweep else 'outputs/my-run'}."
        )
    if path.exists() and not path.is_dir():
        raise UserError(
            f"{key}={path} is a file, not a folder. Choose another {key} (a new or empty folder)."
        )


def _make_folder(folder: RunFolder) -> list[Path]:
    """Create the folder and missing parents; the ones created, outermost first."""
    missing = [p for p in (folder.path, *folder.path.parents) if not p.exists()][::-1]
    created: list[Path] = []
    try:
        for path in missing:
            path.mkdir()
            created.append(path)
    except OSError as err:
        for path in reversed(created):
            _remove_if_empty(path)
        blocker = next((p for p in folder.path.parents if p.exists()), Path("."))
        if not blocker.is_dir():
            raise UserError(
                f"cannot create the run folder {folder.path}: {blocker} is a file, not a "
                f"folder. Choose another {folder.key}."
            ) from None
        raise UserError(
            f"cannot create the run folder {folder.path} ({err.strerror}: {err.filename}). "
            f"Make {blocker} writable, or choose a {folder.key} where you can write."
        ) from None
    return created


def _remove_if_empty(path: Path) -> None:
    with suppress(OSError):  # not empty: the run wrote there
        path.rmdir()


@contextmanager
def _locked(folder: RunFolder) -> Iterator[None]:
    """Hold ``RUN_DIR/.dltrain.lock`` (the holder's pid inside); removed again at the end."""
    lock = folder.path / LOCK_NAME
    if not os.access(folder.path, os.W_OK | os.X_OK):
        read_only = os.statvfs(folder.path).f_flag & os.ST_RDONLY
        raise _not_writable(folder, "read-only file system" if read_only else "permission denied")
    fd = _take_lock(folder, lock)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still held: the next run makes a fresh one
        os.close(fd)


def _take_lock(folder: RunFolder, lock: Path) -> int:
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise _not_writable(folder, err.strerror) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise UserError(
                f"{folder.path} is in use by pid {holder or '(starting)'}: another dltrain run "
                f"holds {lock}. Wait for it to finish, or choose another {folder.key}."
            ) from None
        if _same_file(fd, lock):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)  # its holder removed it as we opened it: lock the new one


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _not_writable(folder: RunFolder, reason: str | None) -> UserError:
    return UserError(
        f"cannot write in the run folder {folder.path} ({reason or 'read-only'}). Make it "
        f"writable, or choose another {folder.key}."
    )


def _refuse_foreign(folder: RunFolder) -> None:
    """A folder with files must be a dltrain run (a sweep folder for a sweep) to be used."""
    names = sorted(p.name for p in folder.path.iterdir() if p.name != LOCK_NAME)
    if not names:
        return
    if folder.sweep and (folder.path / SWEEP_FILE).is_file():
        return
    if not folder.sweep and is_dltrain_run(folder.path):
        return
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    what = f"sweep (no {SWEEP_FILE})" if folder.sweep else "run (no config.yaml written by dltrain)"
    raise UserError(
        f"{folder.path} is not empty ({shown}) and holds no dltrain {what}: a run there "
        "would overwrite or mix with those files. Choose a new or empty "
        f"{folder.key}, or move the files away."
    )


def is_dltrain_run(path: Path) -> bool:
    """Whether ``path`` holds a config.yaml that dltrain wrote (a run, perhaps unfinished)."""
    config = path / "config.yaml"
    try:
        saved = OmegaConf.load(config) if config.is_file() else None
    except Exception:  # any file that does not parse as YAML is someone else's
        return False
    return isinstance(saved, DictConfig) and all(
        isinstance(saved.get(section), DictConfig) for section in RUN_CONFIG_SECTIONS
    )
