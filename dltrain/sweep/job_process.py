"""The process one sweep job runs in: ``python -m dltrain.sweep.job_process JOB_DIR``.

It reads the frozen JOB_DIR/config.yaml (never composes) and runs it like a single run:
in this process, or as a fresh torchrun for distributed=ddp or fsdp. A fresh process per job means
no CUDA memory, RNG state or module globals leak from one job into the next.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dltrain.distributed import launches_workers
from dltrain.errors import exit_codes


def main(argv: list[str] | None = None) -> None:
    from dltrain.config.freeze import load_frozen

    args = sys.argv[1:] if argv is None else argv
    job_dir = Path(args[0])
    plain = load_frozen(job_dir)
    with exit_codes():
        if launches_workers(plain["distributed"]["name"]):
            from dltrain.distributed.launch import run_frozen

            run_frozen(plain, job_dir)  # a fresh torchrun; pruning is not offered under DDP
        else:
            from dltrain.sweep.pruning import hook_from_env
            from dltrain.train.recipe import fit

            fit(plain, job_dir, on_epoch_end=hook_from_env())


if __name__ == "__main__":
    main()
