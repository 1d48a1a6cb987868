"""Data sets by name. Builders take the data config and return a DataSplits.

Data modules import torch inside functions, so checking that a data set is present (a config
error, exit 2) stays fast and torch-free.
"""
