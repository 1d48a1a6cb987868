"""The registry: built-ins found by location, typed facts, the decorator, unknown names."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from dltrain.errors import UserError
from dltrain.registry import MODELS, Registry, import_user_modules


def test_unknown_name_lists_known_names_and_closest():
    with pytest.raises(UserError) as err:
        MODELS.get("lenat")
    message = str(err.value)
    assert "Did you mean 'lenet'" in message
    assert "fmnist_cnn, lenet, mlp" in message
    assert "@MODELS.register('lenat') (from dltrain.registry import MODELS)" in message


def test_builtins_are_imported_only_when_a_name_is_looked_up():
    code = (
        "import sys\n"
        "from dltrain.registry import MODELS\n"
        "print('BEFORE', 'torch' in sys.modules, 'dltrain.models.unet' in sys.modules)\n"
        "print('TASK', MODELS.entry('unet').task)\n"
        "print('AFTER', 'dltrain.models.unet' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "BEFORE False False" in out.stdout, out.stdout + out.stderr
    assert "TASK segmentation" in out.stdout and "AFTER True" in out.stdout


def test_hints_name_the_registry_object_users_import():
    from dltrain.components.schedulers import LR_FACTORS
    from dltrain.registry import LOGGERS

    for registry, symbol in ((LOGGERS, "LOGGERS"), (LR_FACTORS, "LR_FACTORS")):
        with pytest.raises(UserError, match=f"@{symbol}.register"):
            registry.check("nope")


def test_components_register_typed_facts_where_they_are_defined():
    from dltrain.data.checks import check_csv
    from dltrain.registry import DATA, LOGGERS, LOSSES

    assert MODELS.entry("unet").task == "segmentation"
    assert MODELS.entry("regression_mlp").task == "regression"
    assert MODELS.entry("lenet").task == "classification"
    assert MODELS.entry("timm").check is not None  # checks model.arch before a run starts
    assert DATA.entry("csv").tasks == {"classification", "segmentation"}
    assert DATA.entry("csv").check is check_csv
    assert DATA.entry("quadratic").tasks == {"regression"}
    assert LOSSES.entry("dice").tasks == {"segmentation"}
    assert (
        LOSSES.entry("nll").tasks == frozenset()
        and "log-probabilities" in LOSSES.entry("nll").needs
    )
    assert LOGGERS.entry("tensorboard").requires == ("tensorboard", "dltrain[tensorboard]")


BUILTIN = ("dltrain.", "torch.")  # where built-in components are defined


@pytest.mark.parametrize("group", ["data", "model", "loss", "optimizer", "scheduler", "callbacks"])
def test_every_builtin_has_a_config_file_and_every_config_names_one(group):
    """`dltrain list` reads configs/ (torch-free): it must show exactly the registered names."""
    from omegaconf import OmegaConf

    from dltrain.config.compose import config_dir, group_options
    from dltrain.registry import REGISTRIES

    presets = {"loss": {"auto"}}.get(group, set())  # resolved to a registered loss before a run
    registry = REGISTRIES[group]
    builtins = {n for n in registry.names() if registry.get(n).__module__.startswith(BUILTIN)}
    assert builtins == set(group_options(group)) - presets  # (tests register their own too)
    for option in set(group_options(group)) - presets:
        assert OmegaConf.load(config_dir() / group / f"{option}.yaml").name == option


def test_decorator_registers_under_a_name():
    registry = Registry("loss", "LOSSES")

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

        @MODELS.register("tiny_user_net", task="classification")
        class TinyUserNet(nn.Linear):
            pass
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import_user_modules(["my_pkg.my_models"])
    assert "tiny_user_net" in MODELS
    sys.modules.pop("my_pkg.my_models", None)


def test_missing_user_module_is_a_user_error():
    with pytest.raises(UserError, match="no module named 'no_such_pkg'.*PYTHONPATH"):
        import_user_modules(["no_such_pkg.models"])


def test_a_subclass_inherits_the_facts_of_its_registered_base():
    from dltrain.models.unet import UNet

    registry = Registry("model", "MODELS")
    registry.add("unet", UNet, task="segmentation")

    @registry.register("my_unet")
    class MyUNet(UNet):
        pass

    @registry.register("my_head", task="classification")
    class MyHead(UNet):
        pass

    assert registry.entry("my_unet").task == "segmentation"
    assert registry.entry("my_head").task == "classification"
