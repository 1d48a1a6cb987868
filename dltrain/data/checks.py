"""Is the data there? Torch-free checks that run before a run folder is created.

A missing data set is the user's input error (exit 2): the message says where the files go.
Downloads happen here too, once, in the launching process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dltrain.errors import UserError

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def raw_folder(root: str, dataset_class: str) -> Path:
    """Where torchvision's MNIST-family classes look for the IDX files."""
    return Path(root).expanduser() / dataset_class / "raw"


def _missing(folder: Path) -> list[str]:
    return [name for name in MNIST_FILES if not (folder / name).is_file()]


def check_idx_dataset(cfg: Mapping[str, Any], dataset_class: str) -> None:
    folder = raw_folder(cfg["root"], dataset_class)
    if not _missing(folder):
        return
    if cfg.get("download"):
        problem = _download(cfg["root"], dataset_class)
        if not _missing(folder):
            return
        how, fix = f"the download failed ({problem})", "download them on a machine with internet"
    else:
        how, fix = "data.download=false", "set data.download=true where there is internet"
    raise UserError(
        f"{dataset_class} is not under data.root={cfg['root']} and {how}. Put the four "
        f"uncompressed IDX files ({', '.join(MNIST_FILES)}) in {folder}/, point data.root at "
        f"the folder that holds {dataset_class}/raw/, or {fix}."
    )


def _download(root: str, dataset_class: str) -> str:
    """Let torchvision download; on failure remove the empty folders it made, say why."""
    import torchvision.datasets

    created = [p for p in (Path(root), Path(root) / dataset_class, raw_folder(root, dataset_class))
               if not p.exists()]
    try:
        getattr(torchvision.datasets, dataset_class)(root=root, train=True, download=True)
        getattr(torchvision.datasets, dataset_class)(root=root, train=False, download=True)
    except Exception as err:  # noqa: BLE001 - any failure means "not available here"
        for folder in reversed(created):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
    return ""


def check_digits(cfg: Mapping[str, Any]) -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise UserError(
            "data=digits reads scikit-learn's bundled digits, but scikit-learn is not installed. "
            "Install it with: pip install 'dltrain[digits]' (or pip install scikit-learn)."
        ) from None


CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "fashionmnist": lambda cfg: check_idx_dataset(cfg, "FashionMNIST"),
    "digits": check_digits,
}


def check_data(cfg: Mapping[str, Any]) -> None:
    """Run the data set's check: built-ins here, user data sets via a ``check`` attribute."""
    from dltrain.registry import DATA

    check = CHECKS.get(cfg["name"]) or getattr(DATA.get(cfg["name"]), "check", None)
    if check is not None:
        check(cfg)
