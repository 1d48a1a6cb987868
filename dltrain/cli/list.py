"""``dltrain list [GROUP]``: the registered component names of each config group."""

from __future__ import annotations

HELP = """\
Names a config group accepts: data, model, loss, optimizer and scheduler come from their
registries (a name without a configs/<group>/<name>.yaml says so); precision, distributed and
experiment are config files only.
  dltrain list
  dltrain list optimizer"""

EXTRA_GROUPS = ("precision", "distributed", "experiment")


def run(args: list[str]) -> None:
    from dltrain.config.compose import group_options
    from dltrain.errors import UserError
    from dltrain.registry import REGISTRIES, did_you_mean

    groups = [*REGISTRIES, *EXTRA_GROUPS]
    if len(args) > 1:
        raise UserError(f"list takes at most one group, got {' '.join(args)}. Usage: dltrain "
                        f"list [{'|'.join(groups)}]")  # fmt: skip
    for group in args or groups:
        if group not in groups:
            raise UserError(
                f"no group '{group}'.{did_you_mean(group, groups)} Groups: {', '.join(groups)}."
            )
        if group in REGISTRIES:
            configs = set(group_options(group))  # presets such as loss=auto have a file only
            names = sorted(set(REGISTRIES[group].names()) | configs)
            shown = [n if n in configs else f"{n} (no config file)" for n in names]
        else:
            shown = group_options(group)
        print(f"{group}: {', '.join(shown)}")
