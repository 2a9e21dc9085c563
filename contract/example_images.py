"""A logged or test image as people look at it: a 28x28 grey PNG, enlarged IMAGE_SCALE times
(nearest neighbour, so the pixels stay sharp), as a data: URI. The report's failure modes
(docs/reports.md) and the labelling page (docs/monitoring.md, "Audits") show images this way.

    uri = image_png(pixels)  # 784 values, 0-255
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

IMAGE_SIDE = 28
IMAGE_SCALE = 4


def image_png(pixels: Sequence[int]) -> str:
    """A 784-pixel grey image (0-255) as a data: URI of a PNG, IMAGE_SCALE times larger."""
    array = np.clip(np.asarray(pixels, np.int64), 0, 255).astype(np.uint8)
    image = Image.fromarray(array.reshape(IMAGE_SIDE, IMAGE_SIDE), mode="L")
    side = IMAGE_SIDE * IMAGE_SCALE
    buffer = io.BytesIO()
    image.resize((side, side), Image.Resampling.NEAREST).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
