"""``loss: auto``: the loss follows the model's task unless the user picks one.

Resolved once, in the parent, right after composition, so the frozen config.yaml names the
concrete loss with its options (the loss group's own YAML) and resuming compares real losses.
A picked loss is checked against the task here too, so a mismatch is exit 2 before any folder
is written.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf, open_dict

from dltrain.config.compose import config_dir
from dltrain.errors import UserError
from dltrain.registry import did_you_mean

DEFAULT_LOSS = {"classification": "cross_entropy", "segmentation": "dice_bce", "regression": "mse"}


def resolve_loss(cfg: DictConfig) -> None:
    """Replace ``loss: auto`` by the task's default loss, then check the loss fits the task.

    Options given with auto (``+loss.weight=[...]``, ``+loss.label_smoothing=0.1``) apply to
    the resolved loss; one it does not have is exit 2, never silently dropped.
    """
    from dltrain.components.losses import check_loss_fits
    from dltrain.models.build import model_task

    task = model_task(cfg.model)
    if cfg.loss.name == "auto":
        if task not in DEFAULT_LOSS:
            raise UserError(
                f"loss=auto has no default for a {task} model; pick one with loss=NAME "
                "(`dltrain list loss` shows them)."
            )
        section = OmegaConf.load(config_dir() / "loss" / f"{DEFAULT_LOSS[task]}.yaml")
        given = {k: v for k, v in cfg.loss.items_ex(resolve=False) if k != "name"}
        unknown = sorted(set(given) - set(section))
        if unknown:
            raise UserError(
                f"loss.{unknown[0]} is not an option of loss '{section.name}', which loss=auto "
                f"picks for a {task} model.{did_you_mean(unknown[0], section)} Its options: "
                f"{', '.join(k for k in section if k != 'name')}; or pick a loss that has it "
                "with loss=NAME."
            )
        with open_dict(cfg):
            cfg.loss = OmegaConf.merge(section, given)
    check_loss_fits(cfg.loss.name, task)
