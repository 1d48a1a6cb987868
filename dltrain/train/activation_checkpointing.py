"""trainer.activation_checkpointing=[ModuleType,...]: recompute those blocks' activations in
backward instead of keeping them, for one process, DDP and FSDP alike.

torch's composable ``checkpoint`` (torch.distributed._composable) rather than
``checkpoint_wrapper``: it hooks the module in place, so parameter names (state_dict keys,
``optimizer.param_groups`` matches, ``model.freeze`` prefixes) stay as they are and checkpoints
load into the plain model; it is non-reentrant (works under DDP's hooks and FSDP2, which
applies on top of it) and restores the RNG state, so dropout draws the same mask when the
block is recomputed and the loss is the same as without.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torch.distributed._composable import checkpoint

from dltrain.models.module_types import modules_of_types, outermost

KEY = "trainer.activation_checkpointing"


def checkpoint_activations(model: nn.Module, names: Sequence[str]) -> int:
    """Apply activation checkpointing to the outermost modules of the named types; how many."""
    if not names:
        return 0
    blocks = outermost(modules_of_types(model, names, KEY), model)
    for block in blocks:
        checkpoint(block)
    return len(blocks)
