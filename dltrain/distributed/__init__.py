"""Process groups, torchrun launches, the worker entry point, device choice."""
