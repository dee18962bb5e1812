"""Images decode to the pixel values they hold, in every mode Pillow writes them in."""

import numpy as np
import pytest
import torch
from PIL import Image

from src.data import ImageFolderDataModule
from src.data.decode_image import decode_image

GRAY_16 = np.array([[0, 1000], [32768, 65535]], dtype=np.uint16)


def test_16_bit_gray_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "scan.png"
    Image.fromarray(GRAY_16).save(path)
    assert Image.open(path).mode == "I;16"  # what Pillow reads a 16-bit PNG as
    expected = torch.from_numpy(GRAY_16 / 65535).float()
    torch.testing.assert_close(decode_image(path, grayscale=True)[0], expected)
    rgb = decode_image(path, grayscale=False)
    assert rgb.shape == (3, 2, 2) and all(torch.allclose(c, expected) for c in rgb)


def test_palette_images_decode_to_their_colours(tmp_path):
    colours = np.array([[[255, 0, 0], [0, 128, 255]], [[10, 200, 30], [255, 255, 255]]], np.uint8)
    path = tmp_path / "palette.png"
    Image.fromarray(colours).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(path)
    assert Image.open(path).mode == "P"
    expected = torch.from_numpy(colours).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(decode_image(path, grayscale=False), expected)


@pytest.mark.parametrize(("suffix", "atol"), [(".tiff", 0.0), (".jpg", 0.05)])
def test_cmyk_decodes_to_rgb(tmp_path, suffix, atol):
    path = tmp_path / f"print{suffix}"
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(path)  # no cyan, full magenta+yellow: red
    assert Image.open(path).mode == "CMYK"
    pixels = decode_image(path, grayscale=False)
    expected = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 4, 4)
    torch.testing.assert_close(pixels, expected, atol=atol, rtol=0)


def test_transparent_pixels_are_composited_over_white(tmp_path):
    rgba = np.array(
        [[[255, 0, 0, 255], [0, 0, 255, 0]], [[0, 0, 0, 128], [0, 0, 0, 255]]], np.uint8
    )
    path = tmp_path / "icon.png"
    Image.fromarray(rgba, "RGBA").save(path)
    pixels = decode_image(path, grayscale=False)  # (3, 2, 2)
    torch.testing.assert_close(pixels[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))  # opaque red
    torch.testing.assert_close(pixels[:, 0, 1], torch.ones(3))  # fully transparent: white
    torch.testing.assert_close(pixels[:, 1, 0], torch.full((3,), 127 / 255), atol=1 / 255, rtol=0)
    torch.testing.assert_close(pixels[:, 1, 1], torch.zeros(3))  # opaque black
    gray = tmp_path / "gray_alpha.png"
    Image.fromarray(rgba[..., [0, 3]].copy(), "LA").save(gray)
    assert decode_image(gray, grayscale=True)[0, 0, 1] == 1.0  # LA too


def test_exif_rotation_is_applied(tmp_path):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.new("RGB", (4, 2), "white").save(path, exif=exif)
    assert decode_image(path, grayscale=False).shape == (3, 4, 2)  # (C, H, W): upright


def test_an_image_folder_of_16_bit_scans_trains_on_their_values(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("dark", "bright"):
        folder = tmp_path / "train" / name
        folder.mkdir(parents=True)
        for i in range(6):
            scale = 20000 if name == "dark" else 60000
            Image.fromarray(rng.integers(0, scale, (8, 8)).astype(np.uint16)).save(
                folder / f"{i}.png"
            )
    dm = ImageFolderDataModule(data_dir=tmp_path, image_size=8, grayscale=True, augment=False,
                               num_workers=0, batch_size=12)  # fmt: skip
    dm.setup("fit")
    images, _ = next(iter(dm.train_dataloader()))  # every training image, shuffled
    pixels = dm.normalize.inverse(images)  # back to [0, 1]
    expected = [np.asarray(Image.open(p)) / 65535 for p, _ in dm.splits["train"]]
    found = [any(np.allclose(x[0].numpy(), e, atol=1e-5) for x in pixels) for e in expected]
    assert all(found) and pixels.max() < 0.95  # nothing clipped to white


def test_what_pillow_cannot_scale_is_one_clear_error(tmp_path):
    from src.errors import UsageError

    path = tmp_path / "depth.tiff"
    Image.fromarray(np.array([[-5, 70000]], dtype=np.int32), "I").save(path)
    with pytest.raises(UsageError, match=r"depth.tiff has I pixels from -5 to 70000"):
        decode_image(path, grayscale=True)
