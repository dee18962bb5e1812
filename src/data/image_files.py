import warnings
from pathlib import Path

from torch.utils.data import Dataset

from src.data.decode_image import decode_image
from src.errors import UsageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


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


def find_images(folder: Path, recursive: bool, bad_files: str) -> list[Path]:
    """The image files in `folder` (and below, if `recursive`), each checked to open, sorted.

    A file that does not stops the run with its path, or with `bad_files: skip` is left out
    with a warning.
    """
    from PIL import Image

    if recursive and not folder.is_dir():
        raise UsageError(f"--data.predict_dir {folder} is not a folder")
    paths = folder.rglob("*") if recursive else folder.glob("*")
    images = []
    for path in sorted(p for p in paths if p.is_file() and not p.name.startswith(".")):
        try:
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise ValueError("not an image file extension")
            with Image.open(path) as image:
                image.verify()  # reads the structure without decoding all pixels
        except Exception as error:
            message = f"cannot read image {path} ({error})"
            if bad_files == "error":
                raise UsageError(f"{message}; remove it or set --data.bad_files skip") from None
            warnings.warn(f"skipping {message}", stacklevel=2)
            continue
        images.append(path)
    if recursive and not images:
        raise UsageError(f"no readable images under --data.predict_dir {folder}")
    return images
