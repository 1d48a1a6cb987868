"""Training: the recipe (fit), the loop, its state, checkpoints and run files."""
