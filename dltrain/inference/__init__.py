"""A trained run back as a model: evaluate, predict, export."""
