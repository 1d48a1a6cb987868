"""A real MLflow tracking server, as a user starts one (the tests' and scripts/bench_logging.py's).

``mlflow server --backend-store-uri sqlite:///TMP/mlflow.db --artifacts-destination TMP/artifacts
--host 127.0.0.1 --port FREE_PORT``, waited for until /health answers, stopped (its process
group) at the end. The server's job runner (MLflow 3's GenAI jobs: a dozen more processes) is
switched off with MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false; tracking does not use it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 240  # seconds: the first start creates the database (MLflow's migrations)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    return free_port()


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """A tracking server storing into ``folder``; yields its URL."""
    executable = shutil.which("mlflow")
    if executable is None:
        raise FileNotFoundError(
            "the mlflow command is not installed (pip install 'dltrain[mlflow]')"
        )
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        executable, "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with (folder / "server.log").open("w") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server, folder / "server.log")
        yield url
    finally:
        _stop(server)


def _wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited {server.returncode}:\n{log.read_text()}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/health", timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"mlflow server did not answer in {START_TIMEOUT} s:\n{log.read_text()}")


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (the CLI and its uvicorn); then SIGKILL to what
    is left of it after at most 15 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=15)
