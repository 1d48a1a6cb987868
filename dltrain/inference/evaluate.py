"""``dltrain eval ckpt=PATH``: evaluate a checkpoint with the config it was trained with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dltrain.config.compose import config_dir
from dltrain.errors import UserError


def parse_args(args: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Split ``key=value`` args into eval.yaml's options and ``data.*`` overrides."""
    options = OmegaConf.load(config_dir() / "eval.yaml")
    OmegaConf.set_struct(options, True)
    data_overrides = []
    for arg in args:
        if "=" not in arg:
            raise UserError(f"eval takes key=value arguments, got '{arg}'. Example: ckpt=PATH")
        key = arg.split("=", 1)[0]
        if key.startswith("data."):
            data_overrides.append(arg)
            continue
        try:
            options.merge_with_dotlist([arg])
        except OmegaConfBaseException:
            known = ", ".join(list(options.keys()) + ["data.*"])
            raise UserError(f"eval has no option '{key}'. Options: {known}.") from None
    if OmegaConf.is_missing(options, "ckpt"):
        raise UserError("eval needs ckpt=PATH (a checkpoint file or a run folder).")
    if options.split not in ("test", "val"):
        raise UserError(f"split must be test or val, got '{options.split}'.")
    return OmegaConf.to_container(options), data_overrides


def find_checkpoint(path: Path) -> Path:
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / "checkpoints" / name).is_file():
                return path / "checkpoints" / name
        raise UserError(f"{path} is a folder without checkpoints/best.pt or checkpoints/last.pt.")
    return path


def run_eval(args: list[str]) -> dict[str, float]:
    options, data_overrides = parse_args(args)
    from dltrain.components.losses import build_loss
    from dltrain.data.build import build_data
    from dltrain.data.checks import check_data
    from dltrain.data.loaders import build_loader, loader_kind
    from dltrain.distributed.device import resolve_device
    from dltrain.models.build import build_model, model_task
    from dltrain.registry import import_user_modules
    from dltrain.train import checkpoint
    from dltrain.train.loop import evaluate
    from dltrain.train.precision import Precision

    path = find_checkpoint(Path(options["ckpt"]))
    device = resolve_device(options["device"])
    state = checkpoint.load(path, map_location=device)
    cfg = OmegaConf.create(state["config"])
    OmegaConf.set_struct(cfg, True)
    try:
        cfg.merge_with_dotlist(data_overrides)
    except OmegaConfBaseException as err:
        raise UserError(f"bad data override: {str(err).splitlines()[0]}") from None
    cfg = OmegaConf.to_container(cfg)
    import_user_modules(cfg["imports"])
    check_data(cfg["data"])
    task = model_task(cfg["model"])
    data = build_data(cfg["data"], task)
    dataset = data.test if options["split"] == "test" else data.val
    if dataset is None:
        raise UserError(f"the data set of this checkpoint has no {options['split']} split.")
    model = build_model(cfg["model"], load_weights=False).to(device)
    checkpoint.load_model_weights(model, state["model"], str(path))
    precision = Precision(cfg["precision"]["name"], device)
    kind = loader_kind(dataset, cfg["data"])
    loader = build_loader(dataset, cfg["data"], False, cfg["seed"], device, kind=kind)
    loss_fn = build_loss(cfg["loss"], task).to(device)
    scores = evaluate(model, loader, loss_fn, precision, device, task)
    results = {f"{options['split']}/{k}": v for k, v in scores.items()}
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    output = Path(options["output"] or run_dir / f"eval_{options['split']}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"checkpoint": str(path), **results}, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key}: {value:.4f}")
    print(f"wrote {output}")
    return results
