from collections.abc import Sequence

import torch
from torch import Tensor


def for_display(
    images: Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> Tensor:
    """Images (N, C, H, W) back to [0, 1] on the CPU: the datamodule's normalisation undone
    where it is known (`mean`, `std`), else each image stretched to its own range."""
    images = images.detach().float().cpu()
    if mean is not None and std is not None:
        images = images * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    else:
        low = images.amin(dim=(1, 2, 3), keepdim=True)
        images = (images - low) / (images.amax(dim=(1, 2, 3), keepdim=True) - low).clamp(min=1e-8)
    return images.clamp(0, 1)
