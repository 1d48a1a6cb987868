"""The entry point torchrun starts: read the frozen config.yaml from the run folder and train.

Workers never compose a config: the parent ``dltrain train`` did that once and wrote it.
Usage (by dltrain itself): ``python -m dltrain.distributed.worker RUN_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from torch.distributed.elastic.multiprocessing.errors import record

from dltrain.errors import exit_codes


@record
def main() -> None:
    from dltrain.config.freeze import load_frozen
    from dltrain.distributed.context import shutdown
    from dltrain.distributed.liveness import collective_faults
    from dltrain.distributed.torchrun import reported_to_launcher
    from dltrain.train.recipe import fit

    run_dir = Path(sys.argv[1])
    cfg = load_frozen(run_dir)
    try:
        with exit_codes(), reported_to_launcher(), collective_faults():
            fit(cfg, run_dir)
    finally:
        shutdown()  # a process group left to interpreter exit can abort (gloo's threads)


if __name__ == "__main__":
    main()
