from pathlib import Path

from torch.utils.data import Dataset

from src.errors import UsageError


class ImageFiles(Dataset):
    """(path, label) pairs decoded one at a time: (C, H, W) float image, int label (-1: none)."""

    def __init__(self, samples: list[tuple[Path, int]], transform, grayscale: bool):
        self.samples, self.transform, self.mode = samples, transform, "L" if grayscale else "RGB"

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        from PIL import Image
        from torchvision.transforms.v2.functional import pil_to_tensor

        path, label = self.samples[i]
        try:
            with Image.open(path) as image:
                pixels = pil_to_tensor(image.convert(self.mode))  # (C, H, W) uint8
        except Exception as error:  # changed on disk since the check in setup
            raise UsageError(f"cannot read image {path} ({error})") from None
        return self.transform(pixels), label
