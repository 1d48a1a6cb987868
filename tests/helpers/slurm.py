"""A one-node SLURM cluster in a temporary folder: munged, slurmctld and slurmd, for the tests.

Debian's ``slurmctld``/``slurmd``/``slurm-client``/``munge`` packages (``.ci/run`` installs
them) run as root in a container when nothing needs cgroups or systemd: proctrack/linuxproc,
task/none, no accounting. Every file (munge key and socket, slurm.conf, state, spool, logs)
lives under one folder, the daemons listen on free ports of 127.0.0.1, and ``SLURM_CONF``
points the clients (sbatch, squeue, scancel, submitit) at this cluster, so a test cluster
never touches a real one's files. The node has this machine's CPUs and memory
(``slurmd -C``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")
START_TIMEOUT = 60.0


def missing_binaries() -> list[str]:
    """The SLURM/munge programs this machine lacks (a test skips naming them)."""
    return [name for name in BINARIES if shutil.which(name) is None]


def can_run_daemons() -> str | None:
    """Why the daemons cannot start here, or None: they need root (slurmd starts jobs as
    their user, and this cluster runs everything as root)."""
    if missing_binaries():
        return (
            f"SLURM is not installed ({', '.join(missing_binaries())} missing): "
            "apt-get install slurmctld slurmd slurm-client munge"
        )
    if os.geteuid() != 0:
        return "the test SLURM cluster runs its daemons as root"
    return None


def _die_with_parent() -> None:
    """In a daemon before exec: SIGTERM when the test process dies, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG), so a killed test run leaves no SLURM daemons behind."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node_line() -> str:
    """``NodeName=HOST CPUs=... RealMemory=...`` as slurmd measures this machine."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0]


@dataclass
class SlurmCluster:
    """A running one-node cluster; ``env`` is what a client process needs to reach it."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)
    hostname: str = ""

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    def start(self) -> SlurmCluster:
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        socket_path = self._start_munge()
        node = _node_line()
        self.hostname = node.split()[0].split("=", 1)[1]
        self.conf.write_text(self._slurm_conf(node, socket_path))
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        for daemon in ("slurmctld", "slurmd"):
            log = open(self.root / "log" / f"{daemon}.out", "wb")  # noqa: SIM115 - daemon's
            self.processes.append(
                subprocess.Popen(
                    [daemon, "-D", "-f", str(self.conf)],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            )
        self._wait_until_idle()
        return self

    def _start_munge(self) -> Path:
        munge = self.root / "munge"
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        munge.chmod(0o700)
        sock = munge / "munge.socket"
        self.processes.append(
            subprocess.Popen(
                [
                    "munged",
                    "--foreground",
                    "--force",
                    f"--key-file={key}",
                    f"--socket={sock}",
                    f"--pid-file={munge / 'munged.pid'}",
                    f"--log-file={munge / 'munged.log'}",
                    f"--seed-file={munge / 'seed'}",
                ],  # fmt: skip
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not sock.exists():
            if time.monotonic() > deadline or self.processes[-1].poll() is not None:
                raise RuntimeError(f"munged did not start: {self._log('munge/munged.log')}")
            time.sleep(0.05)
        return sock

    def _slurm_conf(self, node: str, munge_socket: Path) -> str:
        root, host = self.root, self.hostname
        return "\n".join(
            [
                "ClusterName=dltraintest",
                f"SlurmctldHost={host}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={munge_socket}",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",  # no cgroups in a container
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_CPU",
                "SchedulerType=sched/builtin",
                "MpiDefault=none",
                "ReturnToService=2",
                "SlurmdTimeout=60",
                "KillWait=10",
                "MinJobAge=30",
                "SlurmctldParameters=enable_configless",
                "SlurmdParameters=config_overrides",
                f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
                f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )

    def _wait_until_idle(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError(f"a SLURM daemon exited: {self.logs()}")
            state = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True, text=True
            )
            if state.returncode == 0 and state.stdout.strip() in ("idle", "mix", "alloc"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the SLURM node did not become idle: {self.logs()}")

    def _log(self, name: str) -> str:
        path = self.root / name
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{self._log(name)}"
            for name in ("log/slurmctld.log", "log/slurmd.log", "log/slurmctld.out")
        )

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster."""
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def stop(self) -> None:
        """Cancel what still runs, then stop the daemons (slurmd, slurmctld, munged)."""
        if self.env:
            self.run("scancel", "--full", "--user=root", timeout=10)
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()
