"""Validating readers of the on-disk data formats: IDX, CIFAR-10 pickles, CSV, image files.

One reader per format, used both by the data set's preflight check and by its loader, so a
broken file is refused the same way wherever it is met: a ``UserError`` (exit 2) that names
the file, what is wrong with it and how to fix it. Torch-free: numpy and PIL only.
"""
