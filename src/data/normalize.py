from collections.abc import Sequence

import torch
from torch import Tensor, nn


class Normalize(nn.Module):
    """`(x - mean) / std` per channel (images) or per column (tables); `inverse` undoes it.

    One module serves the datamodule's own batches and the exported model, so a deployed model
    normalises exactly as training did. uint8 pixels are scaled from 0-255 within the same pass.

    Args:
        mean: Per-channel (or per-column) mean, in [0, 1] units for images.
        std: Per-channel (or per-column) standard deviation, same units.
        image: Whether the inputs are images (B, C, H, W), not rows of features (B, F).
    """

    def __init__(self, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor, image: bool):
        super().__init__()
        shape = (-1, 1, 1) if image else (-1,)
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(shape)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(shape)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.register_buffer("mean_255", mean * 255)  # for uint8 inputs, fused into one pass
        self.register_buffer("std_255", std * 255)

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.uint8:
            return x.float().sub_(self.mean_255).div_(self.std_255)  # in place: .float() copied
        return (x - self.mean) / self.std

    def inverse(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean
