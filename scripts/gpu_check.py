#!/usr/bin/env python
"""One-shot GPU verification of dltrain: environment, correctness, speed and the headline.

    python scripts/gpu_check.py --device cuda --out DIR    # on a GPU: about 6-8 minutes
    python scripts/gpu_check.py --device cpu --quick       # every code path on a CPU, ~2 min

Everything goes under one folder (``--out``, default a fresh one under /tmp): the generated
FashionMNIST-format data, every run folder, every process's log, ``checks.json`` and the
Markdown report ``report.md``, which is also printed. Sections:

1. Environment: GPU, CUDA and driver as torch sees them, torch version, dltrain commit.
2. Correctness: ``dltrain train`` subprocesses (fp32, bf16, fp16 with its GradScaler state,
   torch.compile, U-Net bf16 segmentation, data.loader=memory / torch) must finish and learn;
   a SIGKILL + resume under deterministic=true must end bitwise equal to an uninterrupted run.
3. Speed: scripts/bench.py's table (fp32 / bf16 / fp16 on CUDA).
4. Headline: the tutorial's recipe (FashionMNIST CNN, batch 256, Adam 1e-3, 20 epochs on
   60,000 images) as the tutorial writes it, as dltrain runs it by default and at its best
   (bf16 + compile), and as a hand-written loop on data preloaded on the device; the
   targets (best <= 10 s, best >= 0.9x the preloaded loop, bf16 >= 1.5x fp32) met or not.

Every check runs in its own process with a timeout taken from one overall time budget, so a
hang costs its own timeout only and a failing check never stops the others. This process
never imports torch (bench.py's peak-memory column counts what a child inherits): torch work
runs in ``--worker`` children of this same file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "scripts" / "bench.py"
ACCURACY_MIN = 0.6  # on the generated (learnable) data the CNN reaches ~1.0 in 2 epochs
DICE_MIN = 0.8  # the U-Net reaches ~0.93 on the CPU dry run's 17 steps
TARGET_BEST_SECONDS = 10.0
TARGET_VS_HANDWRITTEN = 0.9
TARGET_BF16_SPEEDUP = 1.5
ERROR_LINE = re.compile(r"^(dltrain: error|[\w.]*(Error|Exception)\b)")

KILLER = '''"""SIGKILL this process after its N-th optimizer step, once (a marker file)."""
import os
import signal
from pathlib import Path

from torch.optim.optimizer import register_optimizer_step_post_hook

_AT = int(os.environ.get("GPU_CHECK_KILL_AT", "0"))
_MARKER = Path(os.environ.get("GPU_CHECK_KILL_MARKER", "/nonexistent/marker"))
_steps = [0]


def _after_step(optimizer, args, kwargs):
    _steps[0] += 1
    if _AT and _steps[0] == _AT and not _MARKER.exists():
        _MARKER.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)


register_optimizer_step_post_hook(_after_step)
'''


# ---------------------------------------------------------------- plan, results, budget
@dataclass(frozen=True)
class Plan:
    """Sizes of every run: the GPU plan, or the CPU dry run's tiny one (``--quick``)."""

    device: str
    quick: bool
    check_images: int  # training images of the correctness checks (test: a tenth)
    check_model: str
    check_batch: int
    check_epochs: int
    compile_model: str  # the compile check: the recipe's CNN and batch on the GPU (warms the
    compile_batch: int  # inductor cache for the headline's best run), tiny on --quick
    kill_at_step: int  # the resume check's SIGKILL: mid-epoch, not on a checkpoint step
    recipe_images: int  # the headline recipe's training images (60,000 on the GPU)
    recipe_test: int
    recipe_epochs: int
    recipe_compile: bool
    bench_args: tuple[str, ...]
    budget_s: float
    jobs: int


def make_plan(device: str, quick: bool, jobs: int | None, budget: float | None) -> Plan:
    if quick:  # a cold torch.compile of the CNN takes over a minute on 2 CPU cores
        return Plan(
            device=device, quick=True, check_images=600, check_model="mlp", check_batch=32,
            check_epochs=1, compile_model="softmax_regression", compile_batch=32,
            kill_at_step=12, recipe_images=600, recipe_test=200, recipe_epochs=1,
            recipe_compile=False, budget_s=budget or 300.0, jobs=jobs or 2,
            bench_args=("--steps", "1", "--warmup", "1", "--repeats", "1", "--variants", "e",
                        "--precisions", "fp32,bf16"),
        )  # fmt: skip
    return Plan(
        device=device, quick=False, check_images=10_000, check_model="fmnist_cnn",
        check_batch=256, check_epochs=2, compile_model="fmnist_cnn", compile_batch=256,
        kill_at_step=52, recipe_images=60_000, recipe_test=10_000, recipe_epochs=20,
        recipe_compile=True, budget_s=budget or 480.0, jobs=jobs or 4,
        bench_args=("--steps", "40", "--warmup", "10", "--repeats", "1"),
    )  # fmt: skip


@dataclass
class Check:
    """One row of the report."""

    name: str
    command: str
    seconds: float = 0.0
    metric: str = ""
    status: str = "fail"  # pass | fail | skipped
    error: str = ""
    data: dict = field(default_factory=dict)  # numbers the later sections use


@dataclass
class Outcome:
    returncode: int | None  # None: killed by the timeout
    seconds: float
    log: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_line(self) -> str:
        if self.returncode is None:
            return f"timed out after {self.seconds:.0f} s"
        lines = [x for x in self.log.read_text(errors="replace").splitlines() if x.strip()]
        errors = [x for x in lines if ERROR_LINE.match(x)]
        return (errors or lines or [f"exit code {self.returncode}"])[-1][:300]


class Budget:
    """One overall deadline; each command gets min(its own limit, what is left)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def timeout(self, limit: float) -> float | None:
        """Seconds this command may run, or None when under 5 s are left (skip it)."""
        left = self.left()
        return None if left < 5 else min(limit, left)


@dataclass
class Context:
    plan: Plan
    out: Path
    budget: Budget
    env: dict  # the worker's environment report (torch, GPU, fp16 on CPU)
    check_root: Path = Path()
    garment_root: Path = Path()
    recipe_root: Path = Path()


# ---------------------------------------------------------------- processes
def run_logged(command: list[str], log: Path, timeout: float, env: dict | None = None) -> Outcome:
    """Run ``command`` with stdout+stderr to ``log``; kill its process group on timeout."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log, "w") as handle:
        handle.write("$ " + shlex.join(command) + "\n")
        handle.flush()
        proc = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=child_env(env),
            cwd=REPO, start_new_session=True,
        )  # fmt: skip
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    return Outcome(code, time.monotonic() - started, log)


def child_env(extra: dict | None) -> dict:
    """This checkout's dltrain first on every child's path (workers and bench.py's children)."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    # unbuffered: a child killed at its timeout still leaves what it printed (bench's tables)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **(extra or {})}
    if extra and "PYTHONPATH" in extra:
        env["PYTHONPATH"] = os.pathsep.join([extra["PYTHONPATH"], path])
    return env


def worker(ctx: Context, name: str, *args: str, limit: float = 120) -> tuple[Outcome, dict]:
    """Run ``--worker NAME ARGS`` of this file; returns its outcome and the JSON it wrote."""
    result = ctx.out / "workers" / f"{name}-{time.monotonic_ns()}.json"
    command = [sys.executable, __file__, "--worker", name, "--result", str(result), *args]
    timeout = ctx.budget.timeout(limit) or 30.0  # a short read still fits past the budget
    outcome = run_logged(command, ctx.out / "logs" / f"worker-{name}.log", timeout)
    data = json.loads(result.read_text()) if outcome.ok and result.exists() else {}
    return outcome, data


def dltrain_command(run: Path, *overrides: str) -> list[str]:
    return [
        sys.executable, "-m", "dltrain", "train", *overrides,
        "logging.progress=off", f"hydra.run.dir={run}",
    ]  # fmt: skip


def shown(command: list[str]) -> str:
    """The command as the report prints it: ``dltrain train ...``, no run folder or --result."""
    if "--result" in command:
        at = command.index("--result")
        command = command[:at] + command[at + 2 :]
    words = [w for w in command if not w.startswith(("hydra.run.dir=", "logging.progress="))]
    words = [w.removeprefix(f"{REPO}/") for w in words]
    if words[:3] == [sys.executable, "-m", "dltrain"]:
        words = ["dltrain", *words[3:]]
    elif words[0] == sys.executable:
        words = ["python", *words[1:]]
    return shlex.join(words)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def first_step_seconds(run: Path) -> float | None:
    found = re.search(r"first optimizer step after ([\d.]+)s", _text(run / "train.log"))
    return float(found.group(1)) if found else None


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


# ---------------------------------------------------------------- 1. environment
def environment(ctx: Context) -> list[tuple[str, str]]:
    info = ctx.env
    rows = [
        ("device asked", ctx.plan.device + (" (quick CPU dry run)" if ctx.plan.quick else "")),
        ("GPU", info.get("gpu", "none")),
        ("compute capability", info.get("capability", "-")),
        ("GPU memory", info.get("gpu_memory", "-")),
        ("CUDA (torch.version.cuda)", str(info.get("cuda"))),
        ("cuDNN", str(info.get("cudnn"))),
        ("driver (nvidia-smi)", nvidia_driver()),
        ("torch", info.get("torch", "?")),
        ("torchvision", info.get("torchvision", "?")),
        ("python", platform.python_version()),
        ("CPU cores", str(os.cpu_count())),
        ("dltrain commit", git_commit()),
    ]
    return rows


def nvidia_driver() -> str:
    try:
        found = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "n/a (no nvidia-smi)"
    return found.stdout.strip().splitlines()[0] if found.returncode == 0 else "n/a"


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        head = None
    if head is None or head.returncode != 0:  # a copied tree: the caller may name the commit
        named = os.environ.get("DLTRAIN_COMMIT")
        return f"{named} (from DLTRAIN_COMMIT)" if named else "n/a (not a git checkout)"
    return head.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout.strip() else "")


# ---------------------------------------------------------------- 2. correctness
def base_overrides(ctx: Context, root: Path, batch: int | None = None) -> list[str]:
    plan = ctx.plan
    return [
        f"data.root={root}", "data.download=false", f"device={plan.device}",
        f"data.batch_size={batch or plan.check_batch}", f"trainer.max_epochs={plan.check_epochs}",
    ]  # fmt: skip


def train_check(
    ctx: Context, name: str, overrides: list[str], key: str, minimum: float, limit: float = 120
) -> tuple[Check, Path]:
    """``dltrain train`` must exit 0 with results.json[key] >= minimum."""
    run = ctx.out / "runs" / re.sub(r"[^\w.-]+", "_", name).strip("_")
    command = dltrain_command(run, *overrides)
    check = Check(name, shown(command))
    timeout = ctx.budget.timeout(limit)
    if timeout is None:
        check.status, check.error = "skipped", "overall time budget spent"
        return check, run
    outcome = run_logged(command, ctx.out / "logs" / f"{run.name}.log", timeout, check_env(ctx))
    check.seconds = outcome.seconds
    if not outcome.ok:
        check.error = outcome.last_line()
        return check, run
    value = read_json(run / "results.json").get(key)
    check.metric = f"{key} {value:.3f} (min {minimum})" if value is not None else f"no {key}"
    check.status = "pass" if value is not None and value >= minimum else "fail"
    check.data = {"value": value, "first_step_s": first_step_seconds(run)}
    return check, run


def check_env(ctx: Context) -> dict:
    """Correctness runs share the cores (``--jobs`` at a time) and one inductor cache."""
    env = {"TORCHINDUCTOR_CACHE_DIR": str(ctx.out / "inductor-cache")}
    threads = max(1, (os.cpu_count() or 2) // ctx.plan.jobs)
    return {**env, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads))}


def classify_check(ctx: Context, name: str, *extra: str) -> Check:
    overrides = [*base_overrides(ctx, ctx.check_root), f"model={ctx.plan.check_model}", *extra]
    return train_check(ctx, name, overrides, "test/accuracy", ACCURACY_MIN)[0]


def fp16_check(ctx: Context) -> Check:
    name = "fp16 (GradScaler)"
    if ctx.plan.device == "cpu" and not ctx.env.get("cpu_fp16"):
        return Check(name, "precision=fp16", status="skipped", error="skipped on CPU")
    overrides = [*base_overrides(ctx, ctx.check_root), f"model={ctx.plan.check_model}"]
    check, run = train_check(
        ctx, name, [*overrides, "precision=fp16"], "test/accuracy", ACCURACY_MIN
    )
    if check.status != "pass":
        return check
    _, found = worker(ctx, "scaler", str(run / "checkpoints" / "last.pt"), limit=60)
    scale = found.get("scale")
    if scale is None or not 0 < scale < float("inf"):
        check.status, check.error = "fail", f"last.pt scaler state: {found or 'unreadable'}"
    else:
        check.metric += f"; scaler scale {scale:g}"
    return check


def compile_check(ctx: Context) -> Check:
    """The headline's best configuration on small data: it also warms the inductor cache."""
    plan = ctx.plan
    overrides = [
        *base_overrides(ctx, ctx.check_root, plan.compile_batch), f"model={plan.compile_model}",
        "precision=bf16",
        "trainer.compile=true", "data.drop_last=true",
    ]  # fmt: skip
    check, _ = train_check(ctx, "trainer.compile=true (bf16)", overrides, "test/accuracy",
                           ACCURACY_MIN, limit=240)  # fmt: skip
    if check.data.get("first_step_s") is not None:
        check.metric += f"; first step {check.data['first_step_s']:.1f} s (compile)"
    return check


def unet_check(ctx: Context) -> Check:
    overrides = [
        *base_overrides(ctx, ctx.garment_root, 64 if not ctx.plan.quick else 32),
        "model=unet", "data=fashionmnist", "precision=bf16", "optimizer.lr=3e-3",
    ]  # fmt: skip
    return train_check(ctx, "model=unet (bf16, segmentation)", overrides, "test/dice", DICE_MIN)[0]


def correctness_checks(ctx: Context) -> list[tuple[str, Callable[[], Check]]]:
    return [
        ("compile", lambda: compile_check(ctx)),  # first: the longest (a cold compile)
        ("resume", lambda: resume_check(ctx)),
        ("fp32", lambda: classify_check(ctx, "precision=fp32", "precision=fp32")),
        ("bf16", lambda: classify_check(ctx, "precision=bf16", "precision=bf16")),
        ("fp16", lambda: fp16_check(ctx)),
        ("unet", lambda: unet_check(ctx)),
        ("memory", lambda: classify_check(ctx, "data.loader=memory", "data.loader=memory")),
        ("torch", lambda: classify_check(ctx, "data.loader=torch", "data.loader=torch")),
    ]


def run_correctness(ctx: Context) -> list[Check]:
    """``--jobs`` checks at a time; a crash inside one is that check's failure only."""

    def guarded(named: tuple[str, Callable[[], Check]]) -> Check:
        try:
            return named[1]()
        except Exception as error:  # noqa: BLE001 - one check's bug must not stop the others
            return Check(f"{named[0]} (crashed)", "-", error=f"{type(error).__name__}: {error}")

    with ThreadPoolExecutor(max_workers=ctx.plan.jobs) as pool:
        return list(pool.map(guarded, correctness_checks(ctx)))


# ---------------------------------------------------------------- 2b. SIGKILL + resume
def resume_check(ctx: Context) -> Check:
    """Deterministic run killed (SIGKILL) after step N, resumed; must equal a clean run."""
    folder = ctx.out / "runs" / "resume"
    killer = folder / "killer"
    killer.mkdir(parents=True, exist_ok=True)
    (killer / "gpu_check_killer.py").write_text(KILLER)
    overrides = [
        *base_overrides(ctx, ctx.check_root), f"model={ctx.plan.check_model}",
        "deterministic=true", "checkpoint.every_n_steps=5", "imports=[gpu_check_killer]",
    ]  # fmt: skip
    env = {**check_env(ctx), "PYTHONPATH": str(killer)}  # child_env adds this checkout
    check = Check("SIGKILL + resume (deterministic)", shown(dltrain_command(folder, *overrides)))
    started = time.monotonic()
    steps = [
        ("clean", folder / "clean", {}),
        ("killed", folder / "chaos", {"GPU_CHECK_KILL_AT": str(ctx.plan.kill_at_step),
                                      "GPU_CHECK_KILL_MARKER": str(folder / "killed")}),
        ("resumed", folder / "chaos", {"GPU_CHECK_KILL_MARKER": str(folder / "killed")}),
    ]  # fmt: skip
    for label, run, extra in steps:
        timeout = ctx.budget.timeout(120)
        if timeout is None:
            check.status, check.error = "skipped", f"time budget spent before the {label} run"
            return check
        outcome = run_logged(dltrain_command(run, *overrides), folder / f"{label}.log",
                             timeout, {**env, **extra})  # fmt: skip
        expected = -signal.SIGKILL if label == "killed" else 0
        if outcome.returncode != expected:
            check.seconds = time.monotonic() - started
            check.error = f"{label} run: " + deterministic_error(outcome)
            return check
    check.seconds = time.monotonic() - started
    return compare_runs(ctx, check, folder)


def deterministic_error(outcome: Outcome) -> str:
    """Name the op when CUDA's deterministic mode refused one, else the log's last line."""
    text = _text(outcome.log)
    found = re.search(r"(\w+) does not have a deterministic implementation", text)
    if found:
        return f"deterministic mode has no implementation of {found.group(1)}"
    if "deterministic" in text and "CuBLAS" in text:
        return "deterministic mode: cuBLAS needs CUBLAS_WORKSPACE_CONFIG"
    if outcome.returncode == 0:
        return "finished before the kill (kill step beyond the run)"
    return outcome.last_line()


def compare_runs(ctx: Context, check: Check, folder: Path) -> Check:
    if "resumed from" not in _text(folder / "chaos" / "train.log"):
        check.error = "the second run did not resume (no 'resumed from' in train.log)"
        return check
    _, found = worker(ctx, "compare", str(folder / "clean"), str(folder / "chaos"), limit=60)
    if not found:
        check.error = "comparing the checkpoints failed (see logs/worker-compare.log)"
    elif found["differences"]:
        check.error = "differs: " + ", ".join(found["differences"][:5])
    else:
        check.status = "pass"
    check.metric = (
        "last.pt and best.pt bitwise equal (weights, optimizer, position)"
        if check.status == "pass"
        else "weights differ"
    )
    return check


# ---------------------------------------------------------------- 3. speed (bench.py)
def speed(ctx: Context) -> tuple[Check, str, dict]:
    """bench.py in one alternating run; returns its check row, its Markdown and images/s."""
    plan = ctx.plan
    command = [sys.executable, str(BENCH), "--device", plan.device,
               "--root", str(ctx.recipe_root), *plan.bench_args]  # fmt: skip
    check = Check("bench.py", shown(command))
    timeout = ctx.budget.timeout(300)
    if timeout is None:
        check.status, check.error = "skipped", "overall time budget spent"
        return check, "", {}
    outcome = run_logged(command, ctx.out / "logs" / "bench.log", timeout)
    check.seconds = outcome.seconds
    text = _text(outcome.log).split("\n", 1)[-1]
    tables = bench_markdown(text)
    speeds = bench_speeds(tables)
    check.status = "pass" if outcome.ok else "fail"
    check.error = "" if outcome.ok else outcome.last_line()
    check.metric = f"{sum(len(v) for v in speeds.values())} rows"
    return check, tables, speeds


def bench_markdown(text: str) -> str:
    """bench.py's headings, tables and ratio lines, spaced as Markdown wants them."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.startswith("###"):
            kept += ["", line, ""]
        elif line.startswith("|"):
            kept.append(line)
        elif line.startswith("c/a"):
            kept += ["", line]
    return "\n".join(kept).strip()


def bench_speeds(tables: str) -> dict[str, dict[str, float]]:
    """{precision: {variant letter: images/s}} from bench.py's Markdown tables."""
    speeds: dict[str, dict[str, float]] = {}
    current = None
    for line in tables.splitlines():
        heading = re.match(r"### \w+, (\w+):", line)
        row = re.match(r"\| ([a-e]): [^|]+\| ([\d,.]+) \|", line)
        if heading:
            current = speeds.setdefault(heading.group(1), {})
        elif row and current is not None:
            current[row.group(1)] = float(row.group(2).replace(",", ""))
    return speeds


# ---------------------------------------------------------------- 4. headline
def recipe_runs(ctx: Context) -> list[tuple[str, list[str], str]]:
    """(label, command, kind) of the four ways to run the tutorial's recipe."""
    plan = ctx.plan
    common = [f"data.root={ctx.recipe_root}", "data.download=false", f"device={plan.device}",
              f"trainer.max_epochs={plan.recipe_epochs}"]  # fmt: skip
    best = ["precision=bf16", "data.drop_last=true"]
    best += ["trainer.compile=true"] if plan.recipe_compile else []
    hand = [sys.executable, __file__, "--root", str(ctx.recipe_root), "--device", plan.device,
            "--epochs", str(plan.recipe_epochs)]  # fmt: skip
    best_label = "(iii) dltrain best: " + " + ".join(
        ["bf16", "compile"] if plan.recipe_compile else ["bf16 (no compile in quick mode)"]
    )
    return [
        ("(i) tutorial loop: ToTensor per sample + DataLoader, fp32", [*hand, "--worker",
         "tutorial", "--precision", "fp32"], "hand"),
        ("(ii) dltrain defaults: `dltrain train data.root=...`, fp32", common, "dltrain"),
        (best_label, [*common, *best], "dltrain"),
        ("(iv) hand-written loop, data preloaded on the device, bf16", [*hand, "--worker",
         "preloaded", "--precision", "bf16"], "hand"),
    ]  # fmt: skip


def headline(ctx: Context) -> list[Check]:
    """The four runs, the tutorial's last (the slowest; no target needs it), shown i..iv."""
    runs, rows = recipe_runs(ctx), {}
    for number in (2, 3, 4, 1):
        label, args, kind = runs[number - 1]
        run = ctx.out / "recipe" / f"run{number}"
        if kind == "dltrain":
            command = dltrain_command(run, *args)
            env = {"TORCHINDUCTOR_CACHE_DIR": str(ctx.out / "inductor-cache")}
        else:
            command = [*args, "--result", str(run / "result.json")]
            env = {}
        rows[number] = recipe_run(ctx, label, command, run, env)
    return [rows[number] for number in sorted(rows)]


def recipe_run(ctx: Context, label: str, command: list[str], run: Path, env: dict) -> Check:
    check = Check(label, shown(command))
    timeout = ctx.budget.timeout(200)
    if timeout is None:
        check.status, check.error = "skipped", "overall time budget spent"
        return check
    run.mkdir(parents=True, exist_ok=True)
    outcome = run_logged(command, run.parent / f"{run.name}.log", timeout, env)
    check.seconds = outcome.seconds
    loop_s, epochs, accuracy = recipe_progress(run)
    check.data = {"wall_s": outcome.seconds, "loop_s": loop_s, "epochs": epochs}
    if not outcome.ok:
        check.error = outcome.last_line()
        if epochs:
            total = ctx.plan.recipe_epochs
            check.error += f" at epoch {epochs}/{total} (~{loop_s * total / epochs:.0f} s in all)"
        return check
    # 1 epoch on 600 images (--quick) is too little to learn: there, finishing is the check
    minimum = 0.0 if ctx.plan.quick else ACCURACY_MIN
    check.status = "pass" if accuracy is not None and accuracy >= minimum else "fail"
    check.metric = f"test/accuracy {accuracy:.3f}" if accuracy is not None else "no accuracy"
    check.metric += f" (min {minimum})" if minimum else " (quick: no minimum)"
    return check


def recipe_progress(run: Path) -> tuple[float, int, float | None]:
    """(seconds in the epoch loop, epochs done, test accuracy) of a dltrain or hand run."""
    if (run / "metrics.jsonl").exists():
        events = [json.loads(x) for x in _text(run / "metrics.jsonl").splitlines() if x]
        epochs = [e for e in events if "epoch_seconds" in e]
        accuracy = read_json(run / "results.json").get("test/accuracy")
        return sum(e["epoch_seconds"] for e in epochs), len(epochs), accuracy
    progress = read_json(run / "result.json")
    return progress.get("loop_s", 0.0), progress.get("epochs", 0), progress.get("test_accuracy")


def targets(ctx: Context, recipe: list[Check], speeds: dict) -> list[tuple[str, str, str]]:
    """(target, number, verdict) for the issue's three targets; times are the epochs' (loop)."""
    loop = [r.data.get("loop_s") if r.status == "pass" else None for r in recipe]
    best, hand, best_wall = loop[2], loop[3], recipe[2].data.get("wall_s")
    ratio = hand / best if best and hand else None
    e32, e16 = speeds.get("fp32", {}).get("e"), speeds.get("bf16", {}).get("e")
    b32, b16 = speeds.get("fp32", {}).get("b"), speeds.get("bf16", {}).get("b")
    bf16 = e16 / e32 if e16 and e32 else None
    hand_bf16 = f"; hand-written loop (row b): {b16 / b32:.2f}x" if b16 and b32 else ""
    epochs = ctx.plan.recipe_epochs
    return [
        (f"dltrain best <= {TARGET_BEST_SECONDS:.0f} s for the {epochs} epochs",
         _num(best, "{:.1f} s") + _num(best_wall, " (whole process {:.1f} s)", ""),
         verdict(ctx, best, lambda v: v <= TARGET_BEST_SECONDS)),
        (f"dltrain best >= {TARGET_VS_HANDWRITTEN}x the preloaded hand-written loop's speed",
         _num(ratio, "{:.2f}x"), verdict(ctx, ratio, lambda v: v >= TARGET_VS_HANDWRITTEN)),
        (f"bf16 >= {TARGET_BF16_SPEEDUP}x fp32 on the conv net (bench, dltrain defaults row e)",
         _num(bf16, "{:.2f}x") + hand_bf16,
         verdict(ctx, bf16, lambda v: v >= TARGET_BF16_SPEEDUP)),
    ]  # fmt: skip


def verdict(ctx: Context, value: float | None, ok: Callable[[float], bool]) -> str:
    if value is None:
        return "not measured"
    return ("met" if ok(value) else "not met") + (" (quick: not the recipe)" * ctx.plan.quick)


def _num(value: float | None, spec: str, missing: str = "-") -> str:
    return missing if value is None else spec.format(value)


# ---------------------------------------------------------------- the report
def table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in row) + " |")
    return lines


def check_rows(checks: list[Check]) -> list[tuple]:
    return [
        (c.name, f"`{c.command}`", f"{c.seconds:.1f}", c.metric or "-", c.status.upper(),
         c.error or "")
        for c in checks
    ]  # fmt: skip


def report(ctx: Context, sections: dict, wall: float) -> str:
    plan = ctx.plan
    mode = "CPU dry run (--quick): tiny sizes, the numbers say nothing" if plan.quick else "full"
    lines = [f"# dltrain GPU check: {plan.device}, {mode}", "",
             f"Total wall time {wall:.0f} s (budget {plan.budget_s:.0f} s); "
             f"everything under `{ctx.out}`.", "", "## 1. Environment", ""]  # fmt: skip
    lines += table(("item", "value"), sections["environment"])
    lines += correctness_lines(plan, sections["correctness"])
    lines += speed_lines(*sections["speed"][:2])
    lines += headline_lines(plan, sections["headline"], sections["targets"])
    return "\n".join(lines) + "\n"


ROW_HEADER = ("check", "command", "s", "metric", "result", "error")


def correctness_lines(plan: Plan, checks: list[Check]) -> list[str]:
    at_once = f"{plan.jobs} checks at a time"
    at_once += ", alongside sections 3 and 4" if plan.quick else ""
    lines = ["", "## 2. Correctness", "",
             f"{plan.check_images:,} generated training images; model {plan.check_model}, batch "
             f"{plan.check_batch}; compile check {plan.compile_model}, batch "
             f"{plan.compile_batch}; U-Net on garment silhouettes; {plan.check_epochs} epoch(s). "
             f"{at_once}, so seconds include sharing the machine.", ""]  # fmt: skip
    return lines + table(ROW_HEADER, check_rows(checks))


def speed_lines(check: Check, tables: str) -> list[str]:
    lines = ["", "## 3. Speed (scripts/bench.py)", ""]
    return lines + table(ROW_HEADER, check_rows([check])) + ["", tables or "(no table)"]


def headline_lines(plan: Plan, recipe: list[Check], goals: list[tuple]) -> list[str]:
    cache = (
        "(iii) ran after the compile check and uses its inductor cache (that check's first step "
        "shows the cold compile)."
        if plan.recipe_compile
        else "(iii) without compile here (quick); the compile check covers it."
    )
    lines = ["", "## 4. Headline: the tutorial's recipe", "",
             f"FashionMNIST CNN, batch 256, Adam 1e-3, {plan.recipe_epochs} epoch(s) on "
             f"{plan.recipe_images:,} generated images. Every way does the same work: trains on "
             "90% (the last partial batch dropped, except by dltrain's defaults), validates on "
             "10% each epoch, tests once. wall = the whole process; loop = the epochs (train + "
             f"validation). {cache}", ""]  # fmt: skip
    lines += table(("run", "command", "wall s", "loop s", "metric", "result", "error"), [
        (r.name, f"`{r.command}`", f"{r.data.get('wall_s', 0):.1f}",
         f"{r.data.get('loop_s', 0):.1f}", r.metric or "-", r.status.upper(), r.error)
        for r in recipe
    ])  # fmt: skip
    return lines + ["", "### Targets", ""] + table(("target", "number", "verdict"), goals)


# ---------------------------------------------------------------- workers (children, torch)
def worker_env(options: argparse.Namespace) -> dict:
    import torch
    import torchvision

    info = {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "cuda_available": torch.cuda.is_available()}  # fmt: skip
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = f"{torch.cuda.get_device_name(0)} (x{torch.cuda.device_count()})"
        info["capability"] = "{}.{}".format(*torch.cuda.get_device_capability(0))
        info["gpu_memory"] = f"{props.total_memory / 2**30:.0f} GiB"
    try:  # float16 autocast + GradScaler on the CPU (newer torch only)
        model = torch.nn.Linear(4, 2)
        scaler = torch.amp.GradScaler("cpu")
        with torch.autocast("cpu", dtype=torch.float16):
            loss = model(torch.randn(3, 4)).float().sum()
        scaler.scale(loss).backward()
        scaler.step(torch.optim.SGD(model.parameters(), lr=0.1))
        info["cpu_fp16"] = True
    except (RuntimeError, TypeError, ValueError):
        info["cpu_fp16"] = False
    return info


def worker_data(options: argparse.Namespace) -> dict:
    """The generated FashionMNIST-format folders: checks, garments, the recipe's 60,000."""
    from dltrain.testing.fake_data import write_fake_mnist

    out, n, recipe, test = options.root, options.images, options.recipe_images, options.test
    write_fake_mnist(out / "checks", train_size=n, test_size=max(200, n // 10))
    write_fake_mnist(out / "garments", train_size=n, test_size=max(200, n // 10), style="garments")
    write_fake_mnist(out / "recipe", train_size=recipe, test_size=test, seed=1)
    return {"written": [str(out / x) for x in ("checks", "garments", "recipe")]}


def worker_scaler(options: argparse.Namespace) -> dict:
    import torch

    state = torch.load(options.args[0], weights_only=True, map_location="cpu")
    scaler = state.get("scaler") or {}
    scale = scaler.get("scale")
    return {"scale": float(scale) if scale is not None else None, "keys": sorted(scaler)}


def worker_compare(options: argparse.Namespace) -> dict:
    """Bitwise comparison of last.pt and best.pt (weights, optimizer state, position)."""
    from dltrain.testing.compare import checkpoint_differences

    clean, chaos = (Path(x) / "checkpoints" for x in options.args)
    differences = [
        f"{name}: {d}"
        for name in ("last.pt", "best.pt")
        for d in checkpoint_differences(clean / name, chaos / name)
    ]
    return {"differences": differences}


def hand_fit(options: argparse.Namespace, model, batches: dict, dev) -> dict:
    """The recipe's epochs: train, validate each epoch, test once; progress after each epoch."""
    import torch
    from torch import nn

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[options.precision]
    scaler = torch.amp.GradScaler(dev.type, enabled=options.precision == "fp16")

    def autocast():
        return torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None)

    def accuracy(split: str) -> float:
        model.eval()
        correct, count = torch.zeros((), device=dev), 0
        with torch.no_grad(), autocast():
            for x, y in batches[split]():
                correct += (model(x).argmax(1) == y).sum()
                count += len(y)
        model.train()
        return correct.item() / max(count, 1)

    started, progress = time.perf_counter(), {}
    for epoch in range(1, options.epochs + 1):
        for step, (x, y) in enumerate(batches["train"](), 1):
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                out = model(x)
            loss = nn.functional.cross_entropy(out.float(), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if step % 100 == 0:
                loss.item()  # the tutorial prints the loss every 100 batches
        progress = {"epochs": epoch, "val_accuracy": accuracy("val"),
                    "loop_s": time.perf_counter() - started}  # fmt: skip
        options.result.write_text(json.dumps(progress))
    return {**progress, "test_accuracy": accuracy("test")}


def worker_tutorial(options: argparse.Namespace) -> dict:
    """(i) The tutorial's way: torchvision dataset, ToTensor per sample, DataLoader."""
    import torch
    import torchvision
    from torch.utils.data import DataLoader, random_split
    from torchvision import transforms

    from dltrain.models.classic import FashionCNN

    torch.manual_seed(0)
    dev = torch.device(options.device)
    full = torchvision.datasets.FashionMNIST(options.root, transform=transforms.ToTensor())
    test = torchvision.datasets.FashionMNIST(
        options.root, train=False, transform=transforms.ToTensor()
    )
    val_size = len(full) // 10
    train, val = random_split(full, [len(full) - val_size, val_size])
    pin = dev.type == "cuda"

    def loader(data, shuffle: bool):
        batches = DataLoader(data, batch_size=256, shuffle=shuffle, drop_last=shuffle,
                             pin_memory=pin)  # fmt: skip
        return lambda: ((x.to(dev, non_blocking=True), y.to(dev, non_blocking=True))
                        for x, y in batches)  # fmt: skip

    batches = {"train": loader(train, True), "val": loader(val, False), "test": loader(test, False)}
    return hand_fit(options, FashionCNN().to(dev), batches, dev)


def worker_preloaded(options: argparse.Namespace) -> dict:
    """(iv) A hand-written loop on tensors already on the device: indexing, no DataLoader."""
    import torch
    import torchvision

    from dltrain.models.classic import FashionCNN

    torch.manual_seed(0)
    dev = torch.device(options.device)

    def on_device(train: bool):
        raw = torchvision.datasets.FashionMNIST(options.root, train=train)
        return raw.data.unsqueeze(1).to(dev).float().div_(255.0), raw.targets.to(dev)

    images, targets = on_device(True)
    test_images, test_targets = on_device(False)
    order = torch.randperm(len(targets), device=dev)
    val_idx, train_idx = order[: len(order) // 10], order[len(order) // 10 :]

    def indexed(index, shuffle: bool):
        def batches():
            chosen = index[torch.randperm(len(index), device=dev)] if shuffle else index
            stop = len(chosen) - len(chosen) % 256 if shuffle else len(chosen)  # drop_last
            for start in range(0, stop, 256):
                picked = chosen[start : start + 256]
                yield images[picked], targets[picked]

        return batches

    def plain(x, y):
        return lambda: ((x[s : s + 256], y[s : s + 256]) for s in range(0, len(y), 256))

    batches = {"train": indexed(train_idx, True), "val": indexed(val_idx, False),
               "test": plain(test_images, test_targets)}  # fmt: skip
    return hand_fit(options, FashionCNN().to(dev), batches, dev)


WORKERS = {
    "env": worker_env,
    "data": worker_data,
    "scaler": worker_scaler,
    "compare": worker_compare,
    "tutorial": worker_tutorial,
    "preloaded": worker_preloaded,
}


# ---------------------------------------------------------------- driver
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--out", type=Path, default=None, help="default: a fresh /tmp folder")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the CPU dry run)")
    parser.add_argument("--jobs", type=int, default=None, help="correctness checks at a time")
    parser.add_argument("--budget", type=float, default=None, help="seconds for everything")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=20, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=600, help=argparse.SUPPRESS)
    parser.add_argument("--recipe-images", type=int, default=60_000, help=argparse.SUPPRESS)
    parser.add_argument("--test", type=int, default=10_000, help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def prepare(plan: Plan, out: Path) -> Context:
    """The output folder, the environment report and the generated data (in children)."""
    ctx = Context(plan, out, Budget(plan.budget_s), {})
    data = out / "data"
    with ThreadPoolExecutor(max_workers=2) as pool:
        probe = pool.submit(worker, ctx, "env", limit=120)
        written = pool.submit(
            worker, ctx, "data", "--root", str(data), "--images", str(plan.check_images),
            "--recipe-images", str(plan.recipe_images), "--test", str(plan.recipe_test),
            limit=300,
        )  # fmt: skip
        (probed, ctx.env), (outcome, _) = probe.result(), written.result()
    if not probed.ok:
        print(f"environment probe failed: {probed.last_line()}", file=sys.stderr)
    if not outcome.ok:
        sys.exit(f"writing the generated data failed: {outcome.last_line()}")
    ctx.check_root, ctx.garment_root, ctx.recipe_root = (
        data / "checks", data / "garments", data / "recipe"
    )  # fmt: skip
    return ctx


def run_sections(ctx: Context) -> tuple[list[Check], list[Check], tuple]:
    """Correctness, then the timed sections one at a time (GPU); all overlapped on --quick."""
    if not ctx.plan.quick:
        return run_correctness(ctx), headline(ctx), speed(ctx)
    # --quick: the numbers say nothing, so overlap everything to fit the 2-core CPU's 2 minutes
    with ThreadPoolExecutor(max_workers=2) as side:
        recipe, bench = side.submit(headline, ctx), side.submit(speed, ctx)
        return run_correctness(ctx), recipe.result(), bench.result()


def main() -> int:
    options = parse_args()
    if options.worker:
        options.result.parent.mkdir(parents=True, exist_ok=True)
        options.result.write_text(json.dumps(WORKERS[options.worker](options)))
        return 0
    started = time.monotonic()
    plan = make_plan(options.device, options.quick, options.jobs, options.budget)
    out = options.out or Path(tempfile.mkdtemp(prefix="dltrain-gpu-check-"))
    out.mkdir(parents=True, exist_ok=True)
    ctx = prepare(plan, out)
    if plan.device == "cuda" and not ctx.env.get("cuda_available"):
        print("warning: torch sees no CUDA device; every cuda check will fail", file=sys.stderr)
    sections: dict = {"environment": environment(ctx)}
    sections["correctness"], sections["headline"], sections["speed"] = run_sections(ctx)
    sections["targets"] = targets(ctx, sections["headline"], sections["speed"][2])
    text = report(ctx, sections, time.monotonic() - started)
    (out / "report.md").write_text(text)
    checks = [*sections["correctness"], sections["speed"][0], *sections["headline"]]
    (out / "checks.json").write_text(json.dumps([asdict(c) for c in checks], indent=1))
    print(text)
    failed = [c.name for c in checks if c.status == "fail"]
    print(f"{len(failed)} failed: {', '.join(failed)}" if failed else "all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
