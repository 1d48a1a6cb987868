"""A sharded checkpoint is published by two renames: a kill between them, or during the
write of the new folder, leaves a whole checkpoint that the next start resumes from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dltrain.config.resume import last_checkpoint
from dltrain.train import sharded_checkpointer
from dltrain.train.sharded_checkpointer import TRAIN_STATE, _publish, newest_sharded


def _folder(path: Path, tag: str) -> Path:
    path.mkdir(parents=True)
    (path / TRAIN_STATE).write_text(tag)
    (path / "__0_0.distcp").write_text(tag)
    return path


def test_publish_replaces_last_and_leaves_nothing_else(tmp_path):
    ckpts = tmp_path / "checkpoints"
    _folder(ckpts / "last.dcp", "old")
    _publish(_folder(ckpts / ".last.dcp.tmp", "new"), ckpts / "last.dcp")
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.dcp"]
    assert (ckpts / "last.dcp" / TRAIN_STATE).read_text() == "new"


def test_a_kill_between_the_renames_resumes_the_previous_one(tmp_path, monkeypatch):
    ckpts = tmp_path / "checkpoints"
    _folder(ckpts / "last.dcp", "old")
    partial = _folder(ckpts / ".last.dcp.tmp", "new")
    renames = []

    def dies_on_the_second(src, dst):
        renames.append(dst)
        if len(renames) == 2:
            raise KeyboardInterrupt  # stands for the SIGKILL
        os.rename(src, dst)

    monkeypatch.setattr(sharded_checkpointer.os, "replace", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        _publish(partial, ckpts / "last.dcp")
    found = newest_sharded(ckpts)
    assert found == ckpts / ".last.dcp.old" and (found / TRAIN_STATE).read_text() == "old"
    assert last_checkpoint(tmp_path) == found  # preflight sees the same run to resume


def test_a_torn_write_is_never_resumed(tmp_path):
    ckpts = tmp_path / "checkpoints"
    (ckpts / ".last.dcp.tmp").mkdir(parents=True)  # shards written, no train state yet
    assert newest_sharded(ckpts) is None and last_checkpoint(tmp_path) is None
