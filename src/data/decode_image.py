"""Image files to float pixels in [0, 1], whatever mode Pillow reads them in."""

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from src.errors import UsageError

# Single-channel modes of more than 8 bits, and the value that is full white in each. A plain
# `convert("L")` clips them at 255: a 16-bit scan would train as an all-white image.
_HIGH_DEPTH = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535, "F": 1}


def decode_image(path: Path, grayscale: bool) -> Tensor:
    """The image at `path` as float32 (C, H, W) in [0, 1]: one gray channel or three RGB ones.

    16-bit and 32-bit gray images are scaled by their full range, not clipped; palette, CMYK,
    YCbCr and other 8-bit modes go through Pillow's conversions; transparent pixels are
    composited over white, as a viewer shows them on a page; an EXIF rotation is applied, so a
    phone photo is upright.
    """
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in _HIGH_DEPTH:
            white = _HIGH_DEPTH[image.mode]
            pixels = np.asarray(image, dtype=np.float32)
            if pixels.min() < 0 or pixels.max() > white:
                raise UsageError(
                    f"{path} has {image.mode} pixels from {pixels.min():g} to {pixels.max():g}, "
                    f"outside 0-{white}: save it as an 8- or 16-bit image"
                )
            gray = torch.from_numpy(pixels / white)[None]  # (1, H, W)
            return gray if grayscale else gray.expand(3, -1, -1).clone()
        if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
            background = Image.new("RGBA", image.size, "white")
            image = Image.alpha_composite(background, image.convert("RGBA"))
        image = image.convert("RGB")  # CMYK, LAB, palette...: via RGB, also for gray
        if grayscale:
            image = image.convert("L")
        pixels = np.asarray(image, dtype=np.uint8).reshape(image.height, image.width, -1)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div_(255)  # (C, H, W)
