"""``dltrain list [GROUP]``: the options of each config group, read from configs/ (no torch).

Every built-in component has its configs/<group>/<name>.yaml, and every such file names a
registered component (tests/unit/test_registry.py keeps the two in step): the files are the list.
"""

from __future__ import annotations

HELP = """\
Options a config group accepts (the files in configs/<group>/): data, model, loss, optimizer,
scheduler, precision, distributed, experiment.
  dltrain list
  dltrain list optimizer"""

GROUPS = ("data", "model", "loss", "optimizer", "scheduler", "precision", "distributed")
GROUPS += ("experiment",)


def run(args: list[str]) -> None:
    from dltrain.config.compose import group_options
    from dltrain.errors import UserError
    from dltrain.registry import did_you_mean

    if len(args) > 1:
        raise UserError(
            f"list takes at most one group, got {' '.join(args)}. Usage: dltrain "
            f"list [{'|'.join(GROUPS)}]"
        )
    for group in args or GROUPS:
        if group not in GROUPS:
            raise UserError(
                f"no group '{group}'.{did_you_mean(group, GROUPS)} Groups: {', '.join(GROUPS)}."
            )
        print(f"{group}: {', '.join(group_options(group))}")
