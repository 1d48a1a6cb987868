"""scripts/gpu_check.py: the CPU dry run reports every section and passes every CPU check; on
CUDA the full run passes its correctness checks and finishes the timed runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.py"
SECTIONS = (
    "## 1. Environment",
    "## 2. Correctness",
    "## 3. Speed (scripts/bench.py)",
    "## 4. Headline: the tutorial's recipe",
    "### Targets",
)
CHECKS = {
    "precision=fp32",
    "precision=bf16",
    "fp16 (GradScaler)",
    "trainer.compile=true (bf16)",
    "model=unet (bf16, segmentation)",
    "data.loader=memory",
    "data.loader=torch",
    "SIGKILL + resume (deterministic)",
    "bench.py",
}


def _gpu_check(out: Path, *args: str, timeout: float) -> tuple[subprocess.CompletedProcess, list]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    report = (out / "report.md").read_text()
    for section in SECTIONS:
        assert section in report, section
    assert report.strip() in result.stdout, "the report is printed too"
    checks = json.loads((out / "checks.json").read_text())
    missing = CHECKS - {c["name"] for c in checks}
    assert not missing, missing
    assert sum(c["name"].startswith(("(i)", "(ii)", "(iii)", "(iv)")) for c in checks) == 4
    return result, checks


@pytest.mark.slow
@pytest.mark.subprocess
def test_quick_cpu_dry_run_reports_every_section_and_passes(tmp_path: Path):
    # a generous budget: the dry run takes about 2 minutes on 2 idle cores, more under load
    result, checks = _gpu_check(
        tmp_path / "check", "--device", "cpu", "--quick", "--budget", "540", timeout=600
    )
    failed = [
        (c["name"], c["status"], c["error"])
        for c in checks
        if c["status"] != "pass" and c["error"] != "skipped on CPU"
    ]
    assert not failed, failed
    assert result.returncode == 0, result.stdout[-4000:]


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.subprocess
def test_full_run_on_cuda_passes(tmp_path: Path):
    result, checks = _gpu_check(tmp_path / "check", "--device", "cuda", timeout=900)
    failed = [(c["name"], c["status"], c["error"]) for c in checks if c["status"] != "pass"]
    assert not failed, failed
    assert result.returncode == 0, result.stdout[-4000:]
