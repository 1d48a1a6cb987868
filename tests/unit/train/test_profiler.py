"""profiler.enabled: torch.profiler's traces in RUN_DIR/profiler and a table in the log; off, on
other ranks or before its schedule records anything, it writes nothing. And the other word of
warning the debug work added: fp16 on a CPU."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from dltrain.config.schema import ProfilerConfig
from dltrain.train.precision import FP16_ON_CPU, warn_if_slow
from dltrain.train.profiler import NoProfiler, open_profiler

cpu = torch.device("cpu")


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture):
    """The "dltrain" logger's records (its setup_logging stops propagation to the root)."""
    logger = logging.getLogger("dltrain")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)
    logger.propagate = propagate


def steps(profiler: object, count: int) -> None:
    weight = torch.randn(32, 32, requires_grad=True)
    for _ in range(count):
        (weight @ weight).relu().sum().backward()
        profiler.step()


def test_a_cycle_writes_both_traces_and_logs_the_top_operators(tmp_path: Path, logged):
    cfg = ProfilerConfig(enabled=True, wait=1, warmup=1, active=2, row_limit=5)
    profiler = open_profiler(cfg, tmp_path, True, cpu)
    steps(profiler, 6)
    profiler.close()
    chrome = json.loads((tmp_path / "profiler" / "chrome_trace_1.json").read_text())
    assert any(e.get("name") == "aten::mm" for e in chrome["traceEvents"])
    assert len(list((tmp_path / "profiler").glob("rank0.*.pt.trace.json"))) == 1
    assert "top 5 operators by self CPU time" in logged.text
    assert "aten::mm" in logged.text


def test_a_run_too_short_to_record_says_so(tmp_path: Path, logged):
    profiler = open_profiler(ProfilerConfig(enabled=True, wait=3), tmp_path, True, cpu)
    steps(profiler, 2)
    profiler.close()
    assert "before any was recorded" in logged.text
    assert not (tmp_path / "profiler").exists()


@pytest.mark.parametrize(("enabled", "main"), [(False, True), (True, False)])
def test_off_or_not_the_main_rank_is_no_profiler(tmp_path: Path, enabled: bool, main: bool):
    profiler = open_profiler(ProfilerConfig(enabled=enabled), tmp_path, main, cpu)
    assert isinstance(profiler, NoProfiler)
    steps(profiler, 2)
    profiler.close()
    assert list(tmp_path.iterdir()) == []


def test_fp16_on_a_cpu_is_warned_about(logged):
    warn_if_slow("fp16", cpu)
    warn_if_slow("bf16", cpu)
    warn_if_slow("fp16", torch.device("meta"))
    assert [r.getMessage() for r in logged.records] == [FP16_ON_CPU]
    assert "precision=bf16" in FP16_ON_CPU
