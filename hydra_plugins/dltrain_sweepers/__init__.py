"""dltrain's Hydra sweeper: Optuna search with pruning (hydra/sweeper=dltrain_optuna)."""
