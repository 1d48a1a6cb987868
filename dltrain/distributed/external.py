"""``torchrun ... -m dltrain train``: an external torchrun started every rank of this run."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from dltrain.config.compose import DEFAULT_SOURCE, ConfigSource, compose
from dltrain.config.freeze import freeze, to_plain
from dltrain.config.preflight import preflight
from dltrain.config.validate import validate_composed
from dltrain.errors import UserError
from dltrain.train.run_folder import hold_run_folder


def train_under_torchrun(
    overrides: list[str], multirun: bool = False, source: ConfigSource = DEFAULT_SOURCE
) -> None:
    """Every rank of an external torchrun composes the same config; rank 0 picks the folder.

    Rank 0 validates the data, locks the run folder (held until its fit ends), writes
    config.yaml there, then shares the folder's path and the seed (``seed=null``: the one rank
    0 chose) or its error with every rank, so no rank waits at a collective that another rank
    skipped.
    """
    from dltrain.distributed.context import broadcast_object, init_process_group, shutdown
    from dltrain.distributed.device import resolve_device
    from dltrain.distributed.liveness import collective_faults, wait_for_rank0
    from dltrain.train.recipe import fit

    if multirun:
        raise UserError(
            "-m (multirun) cannot run under an external torchrun: each sweep job needs its own "
            "launch. Use `dltrain train -m ... distributed=ddp` (a torchrun per job) instead."
        )
    cfg = compose(overrides, source)
    validate_composed(cfg)
    plain = to_plain(cfg)
    dist_cfg, device_type = plain["distributed"], resolve_device(plain["device"]).type
    ctx = init_process_group(dist_cfg["backend"], device_type, dist_cfg["timeout"])
    held = ExitStack()  # rank 0: the run folder's lock, until its fit ends
    try:
        outcome: tuple[str, str, int | None] = ("ok", "", None)
        if ctx.is_main:
            try:
                folder = preflight(overrides, multirun=False, source=source)
                held.enter_context(hold_run_folder(folder))
                run_dir = folder.path.resolve()
                freeze(plain, run_dir)  # seed=null: chosen here, once
                outcome = ("ok", str(run_dir), plain["seed"])
            except UserError as err:
                outcome = ("error", str(err), None)
        with collective_faults():
            wait_for_rank0()  # its preflight may take longer than distributed.timeout
            status, value, seed = broadcast_object(outcome, ctx)
            if status == "error":
                raise UserError(value)
            plain["seed"] = seed  # every rank: the seed config.yaml holds
            fit(plain, Path(value))
    finally:
        shutdown()
        held.close()
