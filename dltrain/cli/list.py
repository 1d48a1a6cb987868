"""``dltrain list [GROUP] [imports=[my_pkg.models]]``: each config group's options.

Every built-in component has its configs/<group>/<name>.yaml, and every such file names a
registered component (tests/unit/test_registry.py keeps the two in step): the files are the
list, read without torch. ``imports=[...]`` imports the user's modules (and so torch) and adds
the names they register, which a config picks with ``<group>.name=...``.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from dltrain.config.schema import LIST_GROUPS

HELP = """\
Options a config group accepts (the files in configs/<group>/): data, model, loss, optimizer,
scheduler, precision, distributed, callbacks, logger, experiment, debug. imports=[...] adds the
names your modules register (picked with <group>.name=...; a callback or a logger by a YAML in
configs/callbacks/ or configs/logger/).
  dltrain list
  dltrain list optimizer
  dltrain list model imports=[my_pkg.models]"""

GROUPS = ("data", "model", "loss", "optimizer", "scheduler", "precision", "distributed")
GROUPS += ("callbacks", "logger", "experiment")
GROUPS += ("debug",)  # presets of trainer/profiler keys, not components
USAGE = f"dltrain list [{'|'.join(GROUPS)}] [imports=[my_pkg.models]]"


def run(args: list[str]) -> None:
    from dltrain.config.compose import group_options
    from dltrain.errors import UserError
    from dltrain.registry import did_you_mean

    imports = [a for a in args if a.startswith("imports=")]
    groups = [a for a in args if not a.startswith("imports=")]
    if len(groups) > 1 or len(imports) > 1:
        raise UserError(
            f"list takes at most one group and one imports=[...], got {' '.join(args)}. "
            f"Usage: {USAGE}"
        )
    for group in groups:
        if group not in GROUPS:
            raise UserError(
                f"no group '{group}'.{did_you_mean(group, GROUPS)} Groups: {', '.join(GROUPS)}."
            )
    registered = plugin_names(_modules(imports[0])) if imports else {}
    for group in groups or GROUPS:
        print(f"{group}: {', '.join(group_options(group))}")
        if registered.get(group):
            listed = group in LIST_GROUPS
            pick = f"{group}=[NAME] and a YAML" if listed else f"{group}.name=..."
            print(f"  registered by imports ({pick}): {', '.join(registered[group])}")


def _modules(arg: str) -> list[str]:
    """The module names of ``imports=[a.b,c]`` (or ``imports=a.b``), as train parses them."""
    from dltrain.errors import UserError

    try:
        value = OmegaConf.to_container(OmegaConf.from_dotlist([arg]))["imports"]
    except Exception as err:  # noqa: BLE001 - any parse failure is a usage error
        raise UserError(f"cannot read {arg} ({err}). Usage: {USAGE}") from None
    modules = value if isinstance(value, list) else [value]
    if not all(isinstance(m, str) and m for m in modules):
        raise UserError(f"imports takes module names, e.g. imports=[my_pkg.models]; got {arg}.")
    return modules


def plugin_names(modules: list[str]) -> dict[str, list[str]]:
    """group -> the names that importing ``modules`` adds to its registry."""
    from dltrain.registry import REGISTRIES, import_user_modules

    builtin = {group: set(registry.names()) for group, registry in REGISTRIES.items()}
    import_user_modules(modules)
    return {
        group: sorted(set(registry.names()) - builtin[group])
        for group, registry in REGISTRIES.items()
    }
