from pathlib import Path

from torch.utils.data import Dataset

from src.data.decode_image import decode_image
from src.errors import UsageError


class ImageFiles(Dataset):
    """(path, label) pairs decoded one at a time: (C, H, W) float image, int label (-1: none)."""

    def __init__(self, samples: list[tuple[Path, int]], transform, grayscale: bool):
        self.samples, self.transform, self.grayscale = samples, transform, grayscale

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        try:
            pixels = decode_image(path, self.grayscale)  # (C, H, W) float in [0, 1]
        except UsageError:
            raise
        except Exception as error:  # changed on disk since the check in setup
            raise UsageError(f"cannot read image {path} ({error})") from None
        return self.transform(pixels), label
