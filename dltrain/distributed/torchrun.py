"""Start the workers with torchrun's own launcher (torch.distributed.run), in this process.

The parent composed and froze the config; each worker reads RUN_DIR/config.yaml. A failed
worker becomes an error that names its rank and exit code, and carries the worker's own
message when it wrote one to torchrun's error file (``reported_to_launcher``).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dltrain.distributed import NODE_RANK_ENV
from dltrain.distributed.slurm import preemption_signals
from dltrain.errors import EXIT_USER_ERROR, DltrainError, Interrupted, RunError, UserError

REPORT_MARK = "dltrain"  # in a worker's error file: the message is dltrain's, for the user


def torchrun_args(dist_cfg: Mapping[str, Any], run_dir: Path) -> list[str]:
    """torchrun's command line for this run (one node: --standalone)."""
    args = [
        f"--nproc-per-node={dist_cfg['nproc_per_node']}",
        f"--max-restarts={dist_cfg['max_restarts']}",
        "--monitor-interval=0.5",
    ]
    if dist_cfg["nnodes"] == 1 and not dist_cfg["rdzv_endpoint"]:
        args.append("--standalone")
    else:
        args += [
            f"--nnodes={dist_cfg['nnodes']}",
            f"--node-rank={dist_cfg['node_rank']}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={dist_cfg['rdzv_endpoint']}",
            f"--rdzv-id={dist_cfg['rdzv_id']}",
        ]
    return [*args, "-m", "dltrain.distributed.worker", str(run_dir)]


def _describe(exitcode: int) -> str:
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


def _root_cause(failures: dict[int, Any]) -> tuple[int, Any]:
    """The failure that started it: a rank killed by a signal other than the launcher's
    SIGTERM, else one with an unusual exit code, else the earliest. (A surviving rank often
    fails first on a broken connection, exit 1, before the launcher sees the killed one.)"""

    def rank_of(item: tuple[int, Any]) -> tuple[int, float]:
        code = item[1].exitcode
        if code < 0 and code != -signal.SIGTERM:
            return 0, item[1].timestamp
        if code not in (1, -signal.SIGTERM):
            return 1, item[1].timestamp
        return 2, item[1].timestamp

    return min(failures.items(), key=rank_of)


def launch_workers(dist_cfg: Mapping[str, Any], run_dir: Path) -> None:
    """Run torchrun's launcher; raise UserError/RunError naming the first failed rank."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(torchrun_args(dist_cfg, run_dir))
    if dist_cfg["nnodes"] > 1:  # the workers number their ranks in node order (context.py)
        os.environ[NODE_RANK_ENV] = str(dist_cfg["node_rank"])
    try:
        with _preemption_as_sigterm() as preempted_by:
            run(args)
    except SignalException as err:  # the launcher itself got SIGTERM/SIGINT; workers saved
        signum = signal.Signals(preempted_by[0] if preempted_by else err.sigval)
        raise Interrupted(
            signum, f"stopped by {signum.name}; the same command resumes the run in {run_dir}."
        ) from None
    except ChildFailedError as err:
        raise _failed_run(err.failures, run_dir) from None


@contextmanager
def _preemption_as_sigterm() -> Iterator[list[int]]:
    """In the launcher, SIGUSR1/SIGUSR2 (SLURM's warning before a time limit or preemption)
    stop the workers as SIGTERM does: torchrun's launcher only handles SIGTERM, SIGINT,
    SIGHUP and SIGQUIT, and the signals' default action would kill it and orphan the
    workers. The signal seen is kept for the message."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def handle(signum: int, _frame: Any) -> None:
        seen.append(signum)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = {signum: signal.signal(signum, handle) for signum in preemption_signals()}
    try:
        yield seen
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _failed_run(failures: dict[int, Any], run_dir: Path) -> DltrainError:
    """The error for a failed worker group: a worker's own report when one wrote it (a rank
    that saw another hang names that rank), else the root cause the launcher saw."""
    codes = {f.exitcode for f in failures.values()}
    stops = (signal.SIGINT, signal.SIGTERM, *preemption_signals())
    signals = {code - 128 for code in codes if code - 128 in stops}
    if len(signals) == 1 and len(codes) == 1:
        signum = signals.pop()
        return Interrupted(
            signum,
            f"stopped by {signal.Signals(signum).name} after a "
            f"checkpoint; the same command resumes the run in {run_dir}.",
        )
    log = f"the log of the run is {run_dir / 'train.log'}."
    seen = ", ".join(f"rank {r} {_describe(failures[r].exitcode)}" for r in sorted(failures))
    reports = sorted((f.timestamp, rank, f.message) for rank, f in failures.items() if _reported(f))
    if reports:
        _, rank, text = reports[0]
        message = f"{text} (reported by rank {rank}; torchrun saw: {seen}); {log}"
    else:
        rank, failure = _root_cause(failures)
        others = sorted(r for r in failures if r != rank)
        message = (
            f"distributed run failed: rank {rank} (local rank {failure.local_rank}, "
            f"pid {failure.pid}) {_describe(failure.exitcode)}"
            + (f", then ranks {others} were stopped" if others else "")
            + f"; {log}"
        )
    return UserError(message) if codes == {EXIT_USER_ERROR} else RunError(message)


def _reported(failure: Any) -> bool:
    return bool(failure.error_file_data.get(REPORT_MARK)) and isinstance(failure.message, str)


@contextmanager
def reported_to_launcher() -> Iterator[None]:
    """In a worker: a DltrainError is also written to torchrun's error file for this rank,
    so the parent ``dltrain`` can print it instead of only an exit code."""
    try:
        yield
    except DltrainError as err:
        path = os.environ.get("TORCHELASTIC_ERROR_FILE")
        if path:
            report = {"message": str(err), "timestamp": int(time.time()), REPORT_MARK: True}
            Path(path).write_text(json.dumps(report))
        raise
