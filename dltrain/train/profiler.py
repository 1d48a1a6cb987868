"""``profiler.enabled=true`` (``debug=profiler``): torch.profiler over a few optimizer steps.

torch.profiler rather than a timer of our own: it sees every operator, on the CPU and on CUDA,
and writes the trace formats the usual viewers read. Its schedule skips ``profiler.wait``
steps (the first step pays one-off costs: allocations, cuDNN autotuning, torch.compile),
traces ``warmup`` steps and throws them away (the profiler's own start-up), then records
``active`` steps, ``repeat`` times. Each recorded cycle leaves, in RUN_DIR/profiler (rank 0
only; other ranks are not profiled):

- ``rank0.<time>.pt.trace.json``: written by torch's ``tensorboard_trace_handler``, for
  ``tensorboard --logdir RUN_DIR/profiler`` (with the torch-tb-profiler plugin);
- ``chrome_trace_<cycle>.json``: the same trace under a plain name, for chrome://tracing or
  https://ui.perfetto.dev;
- a table of the top operators by self CPU time (and self CUDA time on a GPU) in train.log.

Disabled, it is ``NoProfiler``: one empty method call per optimizer step.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

from dltrain.config.schema import ProfilerConfig

log = logging.getLogger("dltrain")


class NoProfiler:
    """profiler.enabled=false (or a rank that does not profile): nothing to do."""

    def step(self) -> None:
        """Nothing: no profiler runs."""

    def close(self) -> None:
        """Nothing: no profiler runs."""


class StepProfiler:
    """torch.profiler stepped once per optimizer step; traces and tables as each cycle ends."""

    def __init__(self, cfg: ProfilerConfig, out_dir: Path, device: torch.device) -> None:
        self.cfg, self.out_dir, self.cuda = cfg, out_dir, device.type == "cuda"
        self.cycles = self.steps = 0
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
        self.profile = profile(
            activities=activities,
            schedule=schedule(
                wait=cfg.wait, warmup=cfg.warmup, active=cfg.active, repeat=cfg.repeat
            ),
            on_trace_ready=self._trace_ready,
            record_shapes=cfg.record_shapes,
            profile_memory=cfg.profile_memory,
            with_stack=cfg.with_stack,
        )
        self.profile.start()
        log.info(
            f"profiler: steps {cfg.wait + cfg.warmup + 1}-{cfg.wait + cfg.warmup + cfg.active} "
            f"of this process are recorded into {out_dir} (profiler.wait/warmup/active)"
        )

    def step(self) -> None:
        """An optimizer step ended: move the profiler's schedule on."""
        self.steps += 1
        self.profile.step()

    def close(self) -> None:
        """Stop (a cycle in progress is written as it is); say so if nothing was recorded."""
        self.profile.stop()
        if self.cycles == 0:
            before = self.cfg.wait + self.cfg.warmup
            log.warning(
                f"profiler: the run ended after {self.steps} optimizer step(s), before any was "
                f"recorded (profiler.wait + profiler.warmup = {before}): lower them, or let the "
                "run take more steps."
            )

    def _trace_ready(self, prof: Any) -> None:
        self.cycles += 1
        self.out_dir.mkdir(parents=True, exist_ok=True)
        before = set(self.out_dir.glob("*.pt.trace.json"))
        tensorboard_trace_handler(str(self.out_dir), worker_name="rank0")(prof)
        written = sorted(set(self.out_dir.glob("*.pt.trace.json")) - before)
        if written:
            _same_file(written[-1], self.out_dir / f"chrome_trace_{self.cycles}.json")
        log.info(self._table(prof))

    def _table(self, prof: Any) -> str:
        averages, limit = prof.key_averages(), self.cfg.row_limit
        parts = [f"profiler: cycle {self.cycles}, top {limit} operators by self CPU time"]
        parts.append(averages.table(sort_by="self_cpu_time_total", row_limit=limit))
        if self.cuda:
            parts.append(f"top {limit} operators by self CUDA time")
            parts.append(averages.table(sort_by="self_cuda_time_total", row_limit=limit))
        return "\n".join(parts)


def _same_file(source: Path, target: Path) -> None:
    """``target`` holds what ``source`` holds: a hard link where the file system has them."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def open_profiler(
    cfg: ProfilerConfig, run_dir: Path, is_main: bool, device: torch.device
) -> StepProfiler | NoProfiler:
    """The run's profiler: recording on the main rank when profiler.enabled, else none."""
    if not (cfg.enabled and is_main):
        return NoProfiler()
    return StepProfiler(cfg, run_dir / "profiler", device)
