"""The registry: lazy built-ins, the decorator, and unknown-name errors."""

from __future__ import annotations

import sys
import textwrap

import pytest

from dltrain.errors import UserError
from dltrain.registry import MODELS, Registry, import_user_modules


def test_unknown_name_lists_known_names_and_closest():
    registry = Registry("model", {"lenet": "dltrain.models.classic:LeNet", "mlp": "x:y"})
    with pytest.raises(UserError) as err:
        registry.get("lenat")
    message = str(err.value)
    assert "Did you mean 'lenet'" in message
    assert "lenet, mlp" in message


def test_builtins_are_imported_only_when_used():
    registry = Registry("model", {"lenet": "dltrain.models.classic:LeNet"})
    assert registry.names() == ["lenet"]
    from dltrain.models.classic import LeNet

    assert registry.get("lenet") is LeNet


def test_decorator_registers_under_a_name():
    registry = Registry("loss")

    @registry.register("my_loss")
    def my_loss():
        return 1

    assert "my_loss" in registry
    assert registry.get("my_loss") is my_loss
    with pytest.raises(UserError, match="registered twice"):
        registry.register("my_loss")(lambda: 2)


def test_user_module_registers_a_model(tmp_path, monkeypatch):
    package = tmp_path / "my_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "my_models.py").write_text(
        textwrap.dedent("""
        from torch import nn
        from dltrain.registry import MODELS

        @MODELS.register("tiny_user_net")
        class TinyUserNet(nn.Linear):
            task = "classification"
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import_user_modules(["my_pkg.my_models"])
    assert "tiny_user_net" in MODELS
    sys.modules.pop("my_pkg.my_models", None)


def test_missing_user_module_is_a_user_error():
    with pytest.raises(UserError, match="cannot import 'no_such_pkg.models'"):
        import_user_modules(["no_such_pkg.models"])
