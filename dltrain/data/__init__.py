"""Data sets by name: each module registers its builder with ``@DATA.register(name, tasks=...,
check=...)``; a builder takes the data config and the model's task and returns a DataSplits.

``check`` functions live in checks.py and stay torch-free; the registry imports this package's
modules the first time a data set is looked up.
"""
