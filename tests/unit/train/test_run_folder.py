"""train/run_folder.py in process: the lock, the folders a run may use, Hydra quoting; and the
checkpoint side of file errors (a failed save keeps the previous file, leftovers go)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser

from dltrain.errors import RunError, UserError
from dltrain.train import checkpoint
from dltrain.train.run_files import remove_partial_writes, temp_file_beside
from dltrain.train.run_folder import (
    LOCK_NAME,
    RunFolder,
    hold_run_folder,
    hydra_quoted,
    is_dltrain_run,
)

RUN_CONFIG = "data: {name: x}\nmodel: {name: y}\nloss: {name: z}\noptimizer: {name: adam}\n"
RUN_CONFIG += "trainer: {max_epochs: 1}\ncheckpoint: {monitor: auto}\n"


@pytest.mark.parametrize(
    "value", ["outputs/2026-01-01/12-00-00", "a b,c=d", "it's", "a\\b", "end\\", "[x]{y}", ""]
)
def test_the_pinned_folder_reads_back_as_itself(value: str):
    parsed = OverridesParser.create().parse_override(f"hydra.run.dir={hydra_quoted(value)}")
    assert parsed.value() == value


def test_the_lock_holds_the_pid_and_is_gone_afterwards(tmp_path: Path):
    run = tmp_path / "new" / "run"
    with hold_run_folder(RunFolder("hydra.run.dir", str(run))) as held:
        assert held == run
        assert (run / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert not (tmp_path / "new").exists()  # made for a run that wrote nothing: removed


def test_the_lock_file_goes_but_the_run_stays(tmp_path: Path):
    run = tmp_path / "run"
    with hold_run_folder(RunFolder("hydra.run.dir", str(run))):
        (run / "config.yaml").write_text(RUN_CONFIG)
    assert [p.name for p in run.iterdir()] == ["config.yaml"]


def test_a_held_folder_is_refused_naming_the_holder(tmp_path: Path):
    folder = RunFolder("hydra.run.dir", str(tmp_path / "run"))
    with hold_run_folder(folder):
        with (
            pytest.raises(UserError, match=f"in use by pid {os.getpid()}"),
            hold_run_folder(folder),
        ):
            pass
        assert (tmp_path / "run" / LOCK_NAME).exists()  # the refusal left the holder's lock


def test_folders_made_for_a_run_that_failed_at_once_are_removed(tmp_path: Path):
    nested = RunFolder("hydra.run.dir", str(tmp_path / "a" / "b" / "run"))
    with pytest.raises(UserError, match="bad input found late"), hold_run_folder(nested):
        raise UserError("bad input found late")
    assert list(tmp_path.iterdir()) == []


def test_a_foreign_folder_is_refused_and_left_alone(tmp_path: Path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    foreign = RunFolder("hydra.run.dir", str(tmp_path / "run"))
    with (
        pytest.raises(UserError, match="Choose a new or empty hydra.run.dir"),
        hold_run_folder(foreign),
    ):
        pass
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["notes.txt"]


def test_a_dltrain_run_and_a_sweep_are_recognised(tmp_path: Path):
    run, sweep = tmp_path / "run", tmp_path / "sweep"
    run.mkdir()
    (run / "config.yaml").write_text(RUN_CONFIG)
    assert is_dltrain_run(run)
    with hold_run_folder(RunFolder("hydra.run.dir", str(run))):
        pass
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    with hold_run_folder(RunFolder("hydra.sweep.dir", str(sweep), sweep=True)):
        pass


@pytest.mark.parametrize(
    "text", ["trainer: {max_epochs: 3}\nmodel: {class_path: Net}\n", "- a list\n", "[unclosed"]
)
def test_other_config_files_are_not_a_dltrain_run(text: str, tmp_path: Path):
    (tmp_path / "config.yaml").write_text(text)
    assert not is_dltrain_run(tmp_path)


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.pt"
    checkpoint.save_atomic({"model": {"w": torch.zeros(2)}}, path)
    before = path.read_bytes()

    def disk_full(obj, handle, *args, **kwargs):
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            raise RuntimeError("PytorchStreamWriter failed writing file") from None

    monkeypatch.setattr(checkpoint.torch, "save", disk_full)
    with pytest.raises(RunError, match="No space left on device.*previous last.pt is kept"):
        checkpoint.save_atomic({"model": {"w": torch.ones(2)}}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]


def test_other_save_errors_are_not_disk_errors(tmp_path: Path, monkeypatch):
    def broken(obj, handle, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(checkpoint.torch, "save", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        checkpoint.save_atomic({"model": {}}, tmp_path / "last.pt")
    assert list(tmp_path.iterdir()) == []


def test_partial_writes_are_found_by_their_names(tmp_path: Path):
    fd, tmp = temp_file_beside(tmp_path / "last.pt")
    os.close(fd)
    (tmp_path / ".notes.tmp").write_text("someone else's")
    assert remove_partial_writes(tmp_path) == [Path(tmp)]
    assert [p.name for p in tmp_path.iterdir()] == [".notes.tmp"]
