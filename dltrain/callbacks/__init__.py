"""Callbacks: behaviour a run switches on by name, ``callbacks=[early_stopping,ema]``.

One callback per module (mmengine's layout): ``base.py`` holds the ``Callback`` class and its
hooks, ``callback_list.py`` the run's callbacks as one object, ``averaged.py`` what the weight
averages (``ema.py``, ``swa.py``) share, and ``early_stopping.py``, ``lr_monitor.py`` the others.
Register your own with ``@CALLBACKS.register("name")`` (``from dltrain.registry import
CALLBACKS``) on a ``Callback`` subclass in a module listed in ``imports=[...]``.
"""

from dltrain.callbacks.base import Callback, RunFacts

__all__ = ["Callback", "RunFacts"]
