"""trainer.detect_anomaly (``debug=anomaly``): torch.autograd's anomaly detection around the
training steps, and what it finds as the run's error (exit 1) instead of a traceback.

torch's own detection rather than checks of our own: it knows which backward function made the
NaN, and prints the forward line that created it (a UserWarning, "Error detected in ...",
on stderr just before the error). It costs a check of every backward output, so it is for
finding a NaN, not for training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from dltrain.errors import RunError


@contextmanager
def anomaly_detection(enabled: bool) -> Iterator[None]:
    """Detect anomalies in the backward passes run inside; a NaN found is a RunError."""
    if not enabled:
        yield
        return
    with torch.autograd.set_detect_anomaly(True):
        try:
            yield
        except RuntimeError as err:
            if "returned nan values" not in str(err):
                raise
            raise RunError(
                f"trainer.detect_anomaly: {str(err).strip()} The warning above (Error detected "
                "in ...) shows the forward line that made it. Lower optimizer.lr, set "
                "trainer.grad_clip, or look for values that overflow there."
            ) from None
