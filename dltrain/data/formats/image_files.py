"""Image files (PNG, JPEG, ...) read by PIL, with a broken file named rather than a traceback.

``verify_image`` is the preflight's pass: it parses the header and, for PNG, checks every
chunk's CRC without decoding (about 0.07 ms per 40x40 image, 0.3 ms per 500x375 one; a full
decode costs 2x to 15x more). A truncated JPEG passes it; ``read_image`` then names it when
the loader decodes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dltrain.errors import UserError


def _broken(path: Path, err: Exception) -> UserError:
    return UserError(
        f"{path} is not a readable image ({type(err).__name__}: {err}). Replace it with a good "
        "copy or delete it."
    )


def verify_image(path: Path) -> None:
    """The file is an image PIL can open, and its structure holds (PNG: every chunk's CRC)."""
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as err:  # noqa: BLE001 - PIL raises many kinds for a broken file
        raise _broken(path, err) from None


def read_image(path: Path, channels: int, size: int) -> np.ndarray:
    """One image file as a size x size x channels uint8 array (1: grayscale, 3: RGB)."""
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8).reshape(size, size, channels)
    except Exception as err:  # noqa: BLE001 - PIL raises many kinds for a broken file
        raise _broken(path, err) from None
