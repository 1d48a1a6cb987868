"""Losses, optimizers and schedulers built by name from their config sections."""
