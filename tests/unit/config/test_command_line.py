"""dltrain train's command line through Hydra's parser: the source, the decisions, the argv."""

from __future__ import annotations

import pytest

from dltrain.config.command_line import parse_args
from dltrain.config.completion import _split, verb_choices
from dltrain.errors import UserError


def test_flags_anywhere_become_hydras_argv_flags_first():
    command = parse_args(["a=1", "-m", "b=2", "-cd", "/x", "-cn", "mine"])
    assert command.argv() == ["--multirun", "--config-name=mine", "--config-dir=/x", "a=1", "b=2"]
    assert command.source.config_name == "mine" and command.source.config_dir == "/x"
    assert command.runs and command.multirun and not command.shows_config


@pytest.mark.parametrize("flags", [["--cfg", "job"], ["--info"], ["-sc", "query=bash"], ["-h"]])
def test_show_only_commands_do_not_run(flags: list[str]):
    assert not parse_args(flags).runs


def test_a_relative_config_path_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_args(["-cp", "conf"]).source.config_path == str(tmp_path / "conf")


@pytest.mark.parametrize(
    "args",
    [["--cfg", "job", "-m"], ["--resolve"], ["-p", "x"], ["--experimental-rerun", "f"], ["--x"]],
)
def test_what_hydra_refuses_is_a_user_error(args: list[str]):
    with pytest.raises(UserError):
        parse_args(args)


def test_completion_splits_the_line_and_offers_verbs():
    assert _split("dltrain train model=le") == (["dltrain", "train"], "model=le")
    assert _split("dltrain train ") == (["dltrain", "train"], "")
    assert verb_choices("dltrain t", ["train", "eval"]) == ["train"]
    assert verb_choices("dltrain eval x", ["train", "eval"]) == []
