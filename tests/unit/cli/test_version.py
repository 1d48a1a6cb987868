"""`dltrain --version` / `-V`: the version, exit 0, and no torch imported for it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dltrain.cli import version
from tests.helpers.cli import dltrain_in_process


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_flag_prints_the_version(flag: str) -> None:
    done = dltrain_in_process(flag)
    assert done.returncode == 0
    assert done.stdout == f"dltrain {version()}\n"
    assert version()[0].isdigit()


@pytest.mark.subprocess
def test_version_imports_no_torch() -> None:
    code = (
        "import sys\nfrom dltrain.cli import main\nmain(['--version'])\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dltrain ")
