"""Extra metrics chosen by ``metrics=[...]``, computed by torchmetrics on every split.

``catalog.py`` says what each name means (torch-free, so preflight checks names without torch);
``classification.py``, ``segmentation.py`` and ``regression.py`` register the built-ins;
``extras.py`` computes them for one split next to the task's fast sums (train/metrics.py).
"""
