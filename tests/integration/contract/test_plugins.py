"""Your own components through ``imports=[my_pkg.models]``, with the real ``dltrain`` console
script run from the folder that holds ``my_pkg/`` (the way the README tells a user to).

A module that cannot be found or raises while imported is exit 2, named with the fix or the
line that raised, before anything is written; the plugin is importable in sweep jobs and DDP
workers too, and ``dltrain list`` shows its names.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import TIMEOUT, fast_train_args
from tests.helpers.contract import assert_refused, tree_state

SCRIPT = Path(sys.executable).parent / "dltrain"
pytestmark = pytest.mark.skipif(
    not SCRIPT.is_file(), reason=f"no dltrain console script next to {sys.executable}"
)

TINY_NET = """\
from torch import nn

from dltrain.registry import MODELS


@MODELS.register("tiny_net", task="classification")
class TinyNet(nn.Module):
    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))

    def forward(self, x):
        return self.net(x)
"""
TINY_YAML = "name: tiny_net\nin_features: ${prod:${data.shape}}\nnum_classes: ${data.num_classes}\n"
BROKEN = {
    "raises.py": 'import torch\n\nSIZE = 3\nraise RuntimeError("SIZE must be even")\n',
    "syntax.py": "def f(:\n    pass\n",
    "needs.py": "import not_installed_lib  # noqa\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder: my_pkg/ (a model and broken modules) and my_configs/model/tiny.yaml."""
    folder = tmp_path / "project"
    (folder / "my_pkg").mkdir(parents=True)
    (folder / "my_pkg" / "__init__.py").write_text("")
    (folder / "my_pkg" / "models.py").write_text(TINY_NET)
    for name, text in BROKEN.items():
        (folder / "my_pkg" / name).write_text(text)
    (folder / "my_configs" / "model").mkdir(parents=True)
    (folder / "my_configs" / "model" / "tiny.yaml").write_text(TINY_YAML)
    return folder


def console(*args: str, cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """The installed ``dltrain`` script (no ``python -m``: the current folder is not on the
    path unless dltrain puts it there), one thread per process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def plugin_args(project: Path, fmnist_root: Path, run: Path, module: str, *extra: str) -> list:
    return fast_train_args(
        fmnist_root, run, "model=tiny", f"imports=[{module}]",
        f"hydra.searchpath=[file://{project / 'my_configs'}]", *extra,
    )  # fmt: skip


@pytest.mark.slow
def test_a_plugin_in_the_current_folder_trains(project: Path, fmnist_root: Path):
    run = project / "run"
    result = console(*plugin_args(project, fmnist_root, run, "my_pkg.models"), cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "checkpoints" / "best.pt").is_file()


@pytest.mark.parametrize(
    ("module", "phrases"),
    [
        ("other_pkg.models", ("no module named 'other_pkg'", "from the folder that holds "
                              "other_pkg/", "pip install", "PYTHONPATH")),
        ("my_pkg.modles", ("my_pkg has no module 'modles'", "models", "Fix the name")),
        ("my_pkg.raises", ("importing my_pkg.raises raised RuntimeError: SIZE must be even",
                           "raises.py, line 4", "Fix the module")),
        ("my_pkg.syntax", ("my_pkg.syntax has a syntax error", "syntax.py, line 1")),
        ("my_pkg.needs", ("No module named 'not_installed_lib'", "needs.py, line 1",
                          "Install not_installed_lib")),
    ],
)  # fmt: skip
def test_a_module_that_does_not_import_is_refused(
    module: str, phrases: tuple[str, ...], project: Path, fmnist_root: Path
):
    run = project / "run"
    before = tree_state(project)
    result = console(*plugin_args(project, fmnist_root, run, module), cwd=project)
    assert_refused(result, *phrases)
    assert not run.exists()
    assert {k: v for k, v in tree_state(project).items() if "__pycache__" not in k} == {
        k: v for k, v in before.items() if "__pycache__" not in k
    }


def test_list_shows_the_names_a_plugin_registers(project: Path):
    result = console("list", "model", "imports=[my_pkg.models]", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "registered by imports (model.name=...): tiny_net" in result.stdout


def test_list_refuses_a_module_that_raises(project: Path):
    result = console("list", "model", "imports=[my_pkg.raises]", cwd=project)
    assert_refused(result, "my_pkg.raises raised RuntimeError", "raises.py, line 4")


def test_list_without_imports_stays_torch_free(project: Path):
    code = "import sys; from dltrain.cli import main; main(['list', 'model']); "
    code += "print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines()[-1] == "False", result.stdout + result.stderr
    assert "tiny_net" not in result.stdout


@pytest.mark.slow
def test_sweep_jobs_import_the_plugin(project: Path, fmnist_root: Path):
    sweep = project / "sweep"
    args = plugin_args(project, fmnist_root, project / "unused", "my_pkg.models")
    result = console(
        "train", "-m", *args[1:], f"hydra.sweep.dir={sweep}", "optimizer.lr=1e-3,1e-2", cwd=project
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert all((sweep / job / "results.json").is_file() for job in ("0", "1"))


@pytest.mark.slow
def test_ddp_workers_import_the_plugin(project: Path, fmnist_root: Path):
    run = project / "run"
    args = plugin_args(
        project, fmnist_root, run, "my_pkg.models", "distributed=ddp",
        "distributed.nproc_per_node=2",
    )  # fmt: skip
    result = console(*args, cwd=project, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "results.json").is_file()
