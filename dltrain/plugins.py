"""The user's own modules, named in ``imports=[my_pkg.models]``, imported so they register.

The current folder is put on the module search path first, as ``python -m dltrain`` does, so
``dltrain train imports=[my_pkg.models]`` run from the folder that holds ``my_pkg/`` finds it
with the console script too (uvicorn, gunicorn and flask put the working folder on the path
for the user's app module the same way). DDP workers and sweep jobs are ``python -m``
processes started in the same folder, so they find the same module.

A module that is not there, or that raises while it is imported, is the user's input error
(exit 2): the message names the module and the fix, or the error and the line that raised it.
"""

from __future__ import annotations

import importlib.util
import os
import pkgutil
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

from dltrain.errors import DltrainError, UserError


def import_user_modules(modules: Iterable[str]) -> None:
    """Import each module named in ``imports=[...]`` so its ``register`` calls run."""
    modules = list(modules)
    if modules and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        try:
            importlib.import_module(module)
        except DltrainError:
            raise  # e.g. a name registered twice: already a message for the user
        except ModuleNotFoundError as err:
            if err.name is not None and (module + ".").startswith(err.name + "."):
                raise UserError(_not_found(module, err.name)) from err
            raise UserError(_raised(module, err)) from err
        except Exception as err:  # noqa: BLE001 - whatever the module raises is reported
            raise UserError(_raised(module, err)) from err


def _not_found(module: str, missing: str) -> str:
    top, _, rest = missing.partition(".")
    if rest:
        parent = missing.rpartition(".")[0]
        known = ", ".join(sorted(_submodules(parent))) or "none"
        return (
            f"imports: {parent} has no module '{missing.rpartition('.')[2]}' "
            f"(imports=[{module}]); its modules: {known}. Fix the name in imports=[...]."
        )
    return (
        f"imports: no module named '{top}', needed for imports=[{module}]. Run dltrain from "
        f"the folder that holds {top}/ (now {os.getcwd()}), pip install the package that "
        f"provides it, or add the folder that holds {top}/ to PYTHONPATH."
    )


def _submodules(package: str) -> list[str]:
    try:
        paths = importlib.import_module(package).__path__
    except (ImportError, AttributeError):
        return []
    return [info.name for info in pkgutil.iter_modules(paths)]


def _raised(module: str, err: BaseException) -> str:
    """What the module raised, and where: the innermost line of the user's own files."""
    if isinstance(err, SyntaxError) and err.filename:
        at = f"{err.filename}, line {err.lineno}: {(err.text or '').strip()}"
        return f"imports: {module} has a syntax error ({err.msg}) at {at}. Fix that line."
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not _internal(f.filename)]
    folders = _package_folders(module)
    own = [f for f in frames if any(Path(f.filename).is_relative_to(d) for d in folders)]
    where = (own or frames)[-1:]
    at = f" at {where[0].filename}, line {where[0].lineno}: {where[0].line}" if where else ""
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
    fix = "Fix the module"
    if isinstance(err, ModuleNotFoundError) and err.name:
        fix = f"Install {err.name.split('.')[0]} (pip install ...) or fix that import"
    return (
        f"imports: importing {module} raised {type(err).__name__}: {first_line}{at}. {fix} "
        "(HYDRA_FULL_ERROR=1 shows the whole traceback)."
    )


def _internal(filename: str) -> bool:
    """Frames of the import machinery and of this module: never the user's line."""
    return filename.startswith("<frozen") or filename == __file__


def _package_folders(module: str) -> list[str]:
    """Where ``module``'s top-level package lives (a single-file module: its folder)."""
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)
    return [str(Path(spec.origin).parent)] if spec.origin else []
