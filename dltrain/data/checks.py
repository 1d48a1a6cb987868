"""Is the data there, and whole? Torch-free checks that run before a run folder is created.

A missing or broken data set is the user's input error (exit 2): the message says where the
files go, or which file is broken and how to fix it. The files are read with the same
validating readers the loaders use (dltrain/data/formats), as far as that is cheap: headers,
labels and row widths; pixels wait for the loader. Downloads happen here too, once, in the
launching process.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dltrain.data.formats import cifar_pickle, csv_table, idx
from dltrain.data.formats.image_files import verify_image
from dltrain.data.transform_names import check_transform_specs
from dltrain.errors import UserError

MNIST_FILES = tuple(name for pair in idx.SPLITS.values() for name in pair)
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)
# what PIL decodes and torchvision's ImageFolder accepts
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def raw_folder(root: str, dataset_class: str) -> Path:
    """Where torchvision's MNIST-family classes look for the IDX files."""
    return Path(root).expanduser() / dataset_class / "raw"


def _missing(folder: Path, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not (folder / name).is_file()]


def _check_files(
    cfg: Mapping[str, Any], dataset_class: str, folder: Path, names: tuple[str, ...], what: str
) -> None:
    """The files are there, or torchvision downloads them (data.download=true), or exit 2."""
    if not _missing(folder, names):
        return
    if cfg.get("download"):
        problem = _download(cfg["root"], dataset_class, folder)
        if not _missing(folder, names):
            return
        how, fix = f"the download failed ({problem})", "download them on a machine with internet"
    else:
        how, fix = "data.download=false", "set data.download=true where there is internet"
    raise UserError(
        f"{dataset_class} is not under data.root={cfg['root']} and {how}. Put the {what} "
        f"({', '.join(names)}) in {folder}/, point data.root at the folder that holds "
        f"{folder.relative_to(Path(cfg['root']).expanduser())}/, or {fix}."
    )


def check_fashionmnist(cfg: Mapping[str, Any]) -> None:
    check_idx_dataset(cfg, "FashionMNIST")


def check_mnist(cfg: Mapping[str, Any]) -> None:
    check_idx_dataset(cfg, "MNIST")


def check_idx_dataset(cfg: Mapping[str, Any], dataset_class: str) -> None:
    folder = raw_folder(cfg["root"], dataset_class)
    _check_files(cfg, dataset_class, folder, MNIST_FILES, "four uncompressed IDX files")
    for split in idx.SPLITS:
        idx.read_split(folder, split, cfg["num_classes"], pixels=False)
    _check_mask_threshold(cfg)


def check_cifar10(cfg: Mapping[str, Any]) -> None:
    folder = Path(cfg["root"]).expanduser() / CIFAR10_FOLDER
    names = CIFAR10_TRAIN + CIFAR10_TEST
    _check_files(cfg, "CIFAR10", folder, names, "python-version batch files")
    for split in (CIFAR10_TRAIN, CIFAR10_TEST):
        cifar_pickle.read_batches(folder, split, cfg["num_classes"])


def _download(root: str, dataset_class: str, folder: Path) -> str:
    """Let torchvision download; on failure remove the empty folders it made, say why."""
    import torchvision.datasets

    made = [p for p in (*reversed(folder.parents), folder) if not p.exists()]
    try:
        getattr(torchvision.datasets, dataset_class)(root=root, train=True, download=True)
        getattr(torchvision.datasets, dataset_class)(root=root, train=False, download=True)
    except Exception as err:  # noqa: BLE001 - any failure means "not available here"
        for path in reversed(made):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return f"{type(err).__name__}: {first_line}"
    return ""


def _check_mask_threshold(cfg: Mapping[str, Any]) -> None:
    threshold = cfg.get("mask_threshold")
    if threshold is not None and not 0.0 <= threshold < 1.0:
        raise UserError(
            f"data.mask_threshold is a pixel intensity in [0, 1), got {threshold}. Pixels above "
            "it are the foreground of the segmentation mask."
        )


def image_classes(folder: Path) -> list[str]:
    """Class names of an image folder: its sub-folders, sorted (as torchvision's ImageFolder)."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)


def check_imagefolder(cfg: Mapping[str, Any]) -> None:
    """train_dir holds one sub-folder of images per class; val/test use the same class names."""
    layout = "one sub-folder per class, e.g. train/cat/1.jpg, train/dog/2.png"
    if not cfg.get("in_memory", True) and cfg.get("loader") == "memory":
        raise UserError(
            "data.loader=memory slices batches from images held in memory, but "
            "data.in_memory=false decodes each image when it is used. Set data.loader=auto "
            "(or torch), or data.in_memory=true."
        )
    train_dir = Path(cfg["train_dir"]).expanduser()
    if not train_dir.is_dir():
        raise UserError(
            f"data.train_dir={train_dir} is not a folder. Put the training images there, {layout}, "
            "or point data.train_dir at that folder."
        )
    classes = image_classes(train_dir)
    empty = [c for c in classes if not image_files(train_dir / c)]
    if not classes or empty:
        problem = f"these hold no images: {', '.join(empty)}" if empty else "it has no sub-folders"
        raise UserError(
            f"data.train_dir={train_dir} needs {layout} ({', '.join(IMAGE_EXTENSIONS)}); {problem}."
        )
    if cfg["num_classes"] != len(classes):
        raise UserError(
            f"data.train_dir has {len(classes)} classes ({', '.join(classes)}) but "
            f"data.num_classes={cfg['num_classes']}. Set data.num_classes={len(classes)}."
        )
    for key in ("val_dir", "test_dir"):
        if cfg.get(key) is None:
            continue
        folder = Path(cfg[key]).expanduser()
        if not folder.is_dir():
            raise UserError(f"data.{key}={folder} is not a folder ({layout}), or set it to null.")
        unknown = sorted(set(image_classes(folder)) - set(classes))
        if unknown:
            raise UserError(
                f"data.{key} has class folders that data.train_dir lacks: {', '.join(unknown)}. "
                f"Its classes must be among {', '.join(classes)}."
            )
        _verify_images(folder, classes)
    _verify_images(train_dir, classes)
    _check_shape_and_size(cfg)


def _verify_images(folder: Path, classes: list[str]) -> None:
    """Every image of the class folders opens and holds together (PIL's verify, no decode)."""
    for name in classes:
        for path in image_files(folder / name) if (folder / name).is_dir() else []:
            verify_image(path)


def _check_shape_and_size(cfg: Mapping[str, Any]) -> None:
    shape, size = list(cfg["shape"]), cfg.get("image_size")
    if shape[0] not in (1, 3):
        raise UserError(f"data.shape must start with 1 (grayscale) or 3 (RGB) channels: {shape}.")
    if size is not None and shape[1:] != [size, size]:
        raise UserError(
            f"data.shape={shape} does not match data.image_size={size}: set "
            f"data.shape=[{shape[0]},{size},{size}]."
        )


def check_csv(cfg: Mapping[str, Any]) -> None:
    """Kaggle layout: a header row, then label and the pixels of one image per row."""
    channels = cfg["shape"][0]
    for key in ("train_file", "test_file"):
        if cfg.get(key) is None and key == "test_file":
            continue
        path = Path(cfg[key]).expanduser()
        if not path.is_file():
            raise UserError(
                f"data.{key}={path} does not exist. Put the CSV file there (the Kaggle "
                "fashion-mnist layout: a header row 'label,pixel1,...,pixel784', then one image "
                f"per row), or point data.{key} at it."
            )
        csv_table.image_side(path, channels)
        csv_table.scan_csv(path, channels, cfg["num_classes"])
    _check_mask_threshold(cfg)
    _check_shape_and_size(cfg)


def check_digits(cfg: Mapping[str, Any]) -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise UserError(
            "data=digits reads scikit-learn's bundled digits, but scikit-learn is not installed. "
            "Install it with: pip install 'dltrain[digits]' (or pip install scikit-learn)."
        ) from None


def check_quadratic(cfg: Mapping[str, Any]) -> None:
    if cfg["num_points"] < 3:
        raise UserError(f"data.num_points must be at least 3, got {cfg['num_points']}.")
    if not 0.0 <= cfg.get("test_split", 0.0) < 1.0:
        raise UserError(f"data.test_split must be in [0, 1), got {cfg['test_split']}.")


def check_transforms(cfg: Mapping[str, Any]) -> None:
    """Names first (torch-free); a non-empty list is also built and tried on a blank sample."""
    specs = cfg.get("train_transforms")
    if not specs:
        return
    check_transform_specs(specs)
    from dltrain.data.transforms import build_augment, dry_run

    size = cfg.get("image_size")
    shape = cfg["shape"] if size is None else [cfg["shape"][0], size, size]
    augment = build_augment(specs)
    if augment is not None:  # None: only mixup/cutmix, which are batch ops
        dry_run(augment, shape, with_mask=False)


def check_data(cfg: Mapping[str, Any]) -> None:
    """Run the check the data set registered (``check=``), then the training transforms'."""
    from dltrain.registry import DATA

    check = DATA.entry(cfg["name"]).check
    if check is not None:
        check(cfg)
    check_transforms(cfg)
