"""dltrain's Python API in a user's own Python process: ``import dltrain`` stays light, and
``dltrain.train`` with ``distributed=ddp`` starts torchrun's workers (gloo, 2 processes) as the
command does and returns results.json. Each process runs under a timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TIMEOUT = 240


def python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_import_dltrain_imports_no_torch():
    result = python(
        """
        import sys
        import dltrain
        names = [getattr(dltrain, name) for name in ("train", "compose", "load", "__version__")]
        print(sorted(dltrain.__all__), dltrain.__version__)
        print("HEAVY", [m for m in ("torch", "hydra", "numpy") if m in sys.modules])
        """
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout


@pytest.mark.slow
def test_train_with_ddp_starts_torchrun_and_returns_results(tmp_path: Path):
    run = tmp_path / "ddp"
    overrides = [
        "data=synthetic",
        "model=mlp",
        "model.hidden=[16]",
        "data.train_size=256",
        "data.test_size=64",
        "trainer.max_epochs=1",
        "distributed=ddp",
        "distributed.nproc_per_node=2",
        "distributed.backend=gloo",
        "distributed.timeout=60",
    ]
    result = python(
        f"""
        import json, dltrain
        results = dltrain.train({overrides!r}, run_dir={str(run)!r})
        print("RESULTS", json.dumps(results))
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    printed = json.loads(result.stdout.split("RESULTS ", 1)[1])
    assert printed == json.loads((run / "results.json").read_text())
    assert "32 x 2 process(es) = 64 global" in (run / "train.log").read_text()
