"""The verb table: dispatch and usage come from VERBS; every verb has --help; one parser."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import dltrain.cli as cli
from dltrain.cli.options import option_rows, parse_options
from dltrain.config.compose import config_dir
from dltrain.errors import UserError

CLI_DIR = Path(cli.__file__).parent
RUN_VERBS = ("eval", "plot", "predict", "export")  # they open a trained run


def exit_code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        cli.main(args)
    return stop.value.code


def test_every_verb_is_a_module_of_the_table():
    names = [v.name for v in cli.VERBS]
    assert names == [
        "train",
        "eval",
        "plot",
        "predict",
        "export",
        "report",
        "list",
        "summary",
        "shard",
    ]
    modules = {p.stem for p in CLI_DIR.glob("*.py")} - {"__init__", "options", "verbs"}
    assert modules == set(names), "one module per verb, one verb per module"
    for verb in cli.VERBS:
        module = cli.verb_module(verb)
        assert verb.module == f"dltrain.cli.{verb.name}"
        assert callable(module.run) and module.HELP.strip()
        has_file = (config_dir() / f"{verb.name}.yaml").is_file()
        assert verb.options == (has_file and verb.name != "train")


def test_usage_lists_every_verb_of_the_table():
    for verb in cli.VERBS:
        assert f"\n  {verb.name:<9} {verb.help}\n" in cli.usage()
        for line in verb.usage:
            assert line in cli.usage()


def test_dispatch_and_usage_follow_the_table(monkeypatch, capsys):
    """A verb added to VERBS is dispatched and listed, with nothing else to edit."""
    calls = []
    module = types.ModuleType("fake_verb")
    module.HELP = "Says hello."
    module.run = calls.append
    monkeypatch.setitem(sys.modules, "fake_verb", module)
    verb = cli.Verb("hello", "fake_verb", "greet", ("dltrain hello [NAME]",))
    monkeypatch.setattr(cli, "VERBS", (*cli.VERBS, verb))
    cli.main(["hello", "world"])
    assert calls == [["world"]]
    cli.main(["hello", "--help"])
    help_text = capsys.readouterr().out
    assert help_text.startswith("usage: dltrain hello [NAME]\n\nGreet.\n\nSays hello.")
    assert exit_code(["--help"]) == 0
    assert "  hello     greet\n              dltrain hello [NAME]" in capsys.readouterr().out
    assert calls == [["world"]], "--help does not run the verb"


def test_unknown_verb_suggests_one(capsys):
    assert exit_code(["evl"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'evl'" in err and "eval" in err


@pytest.mark.parametrize("verb", [v for v in cli.VERBS if v.own_help], ids=lambda v: v.name)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_of_every_verb_names_its_options(verb, flag: str, capsys):
    cli.main([verb.name, flag])  # returns: exit 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {verb.usage[0]}\n")
    for key, default, _ in option_rows(verb.name) if verb.options else []:
        shown = "required" if default == "???" else default
        assert any(line.split()[:2] == [key, shown] for line in out.splitlines()), key
    if verb.data:
        assert "data.*" in out


def test_help_after_other_arguments_and_help_verb(capsys):
    cli.main(["eval", "ckpt=somewhere", "--help"])
    assert capsys.readouterr().out.startswith("usage: dltrain eval RUN_DIR|ckpt=PATH")
    cli.main(["help", "predict"])
    assert "input" in capsys.readouterr().out


def test_train_help_is_left_to_hydra():
    assert [v.name for v in cli.VERBS if not v.own_help] == ["train"]


@pytest.mark.parametrize("verb", RUN_VERBS)
def test_positional_run_equals_ckpt(verb: str):
    required = {"predict": ["input=test"], "export": ["format=onnx"]}.get(verb, [])
    aliases = {"run": "ckpt"} if verb == "plot" else None
    bare = parse_options(verb, ["runs/a", *required, "data.root=/x"], "ckpt", aliases)
    keyed = parse_options(verb, [*required, "ckpt=runs/a", "data.root=/x"], "ckpt", aliases)
    assert bare == keyed and bare[0]["ckpt"] == "runs/a" and bare[1] == ["data.root=/x"]


def test_plot_takes_run_as_ckpt():
    options, _ = parse_options("plot", ["run=runs/b"], "ckpt", {"run": "ckpt"})
    assert options["ckpt"] == "runs/b" and "run" not in options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "eval needs ckpt=... (usage: dltrain eval RUN_DIR|ckpt=PATH"),
        (["a", "b"], "eval takes one ckpt argument, got 2: a b."),
        (["a", "ckpt=b"], "eval got its ckpt twice"),
        (["a", "colour=red"], "eval has no option 'colour'"),
    ],
)
def test_missing_or_extra_arguments_name_the_usage(args: list[str], message: str):
    with pytest.raises(UserError) as err:
        parse_options("eval", args, positional="ckpt")
    assert message in str(err.value)
    assert "dltrain eval RUN_DIR|ckpt=PATH" in str(err.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval"], "eval needs ckpt="),
        (["predict", "a", "b", "input=test"], "predict takes one ckpt argument"),
        (["report"], "report needs dir="),
        (["report", "a", "b"], "report takes one dir argument"),
        (["report", "a", "data.root=x"], "report has no option 'data.root'"),
        (["list", "model", "data"], "list takes at most one group"),
        (["summary", "a", "model=lenet"], "summary takes either train overrides"),
    ],
)
def test_bad_arguments_are_exit_2(args: list[str], message: str, capsys):
    assert exit_code(args) == 2
    assert message in capsys.readouterr().err


def test_report_takes_the_folder_or_dir(tmp_path: Path):
    for args in ([str(tmp_path)], [f"dir={tmp_path}"]):
        assert parse_options("report", args, "dir", data=False)[0]["dir"] == str(tmp_path)


def test_every_option_file_has_a_comment_per_required_key():
    for verb in cli.VERBS:
        if verb.options:
            keys = [k for k, _, _ in option_rows(verb.name)]
            assert keys == list(OmegaConf.load(config_dir() / f"{verb.name}.yaml"))
