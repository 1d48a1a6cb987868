"""The Python API behind ``dltrain/__init__.py``: one module per public function (train.py,
compose.py, load.py) and overrides.py (a dict or list as command-line overrides). Import them
from ``dltrain`` (``dltrain.train``, ...), which loads these modules on first use."""
