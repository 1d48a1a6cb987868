"""``dltrain.compose``: the config a run would freeze, for inspection, without running it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dltrain.api.overrides import Overrides, as_overrides, one_run

if TYPE_CHECKING:
    from omegaconf import DictConfig


def compose(overrides: Overrides = ()) -> DictConfig:
    """The config ``dltrain train OVERRIDES`` would write as config.yaml, as a DictConfig.

    Composed by Hydra from dltrain's configs, validated as a run's config is (the same
    ``UserError``, exit_code 2, for an unknown option, a typo'd key or a bad value), every
    interpolation resolved and ``loss: auto`` replaced by the model's loss; Hydra's own
    ``hydra`` section is left out, as in config.yaml. The data files and the dry build of the
    components are checked by ``dltrain.train``, not here. ``overrides`` as for
    ``dltrain.train``.

    Example::

        cfg = dltrain.compose({"model": "lenet", "optimizer.lr": 3e-4})
        cfg.model.name, cfg.optimizer.lr, cfg.loss.name     # 'lenet', 0.0003, 'cross_entropy'
        print(omegaconf.OmegaConf.to_yaml(cfg))
    """
    from omegaconf import OmegaConf

    from dltrain.config.freeze import to_plain
    from dltrain.config.preflight import check_config
    from dltrain.config.task_loss import resolve_loss
    from dltrain.registry import import_user_modules

    command = one_run(as_overrides(overrides), "dltrain.compose")
    cfg = check_config(command.overrides, command.source)
    import_user_modules(cfg.imports)
    resolve_loss(cfg)  # as the run does before it writes config.yaml
    return OmegaConf.create(to_plain(cfg))
