"""The entry point torchrun starts: read the frozen config.yaml from the run folder and train.

Workers never compose a config: the parent ``dltrain train`` did that once and wrote it.
Usage (by dltrain itself): ``python -m dltrain.worker RUN_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from torch.distributed.elastic.multiprocessing.errors import record

from dltrain.errors import EXIT_RUN_FAILED, EXIT_USER_ERROR, Interrupted, RunError, UserError


@record
def main() -> None:
    from omegaconf import OmegaConf

    from dltrain.distributed import shutdown
    from dltrain.runner import fit

    run_dir = Path(sys.argv[1])
    cfg = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
    try:
        fit(cfg, run_dir)
    except UserError as err:
        print(f"dltrain: error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except RunError as err:
        print(f"dltrain: error: {err}", file=sys.stderr)
        sys.exit(EXIT_RUN_FAILED)
    except Interrupted as err:
        print(f"dltrain: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    finally:
        shutdown()  # a process group left to interpreter exit can abort (gloo's threads)


if __name__ == "__main__":
    main()
