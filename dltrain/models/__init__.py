"""Model architectures, each registered with the task it serves (``@MODELS.register(name,
task=...)``). Every model returns raw logits (no softmax)."""
