"""dltrain's Hydra launcher: K sweep jobs at once on one machine (hydra/launcher=parallel)."""
