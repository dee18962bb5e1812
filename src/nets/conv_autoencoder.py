from jsonargparse.typing import PositiveInt
from torch import Tensor, nn

from src.nets.inputs import image_channels


class ConvAutoencoder(nn.Module):
    """Images to a `latent_dim` code and back to images of the same shape.

    The encoder halves the resolution with each strided 3x3 conv-BN-GELU stage, then a linear
    layer gives the code; the decoder mirrors it with transposed convolutions and crops to the
    input size, so any (C, H, W) works. The output is unbounded: it reconstructs the normalised
    images the datamodule gives. `encode` alone gives the codes (B, latent_dim).

    Args:
        input_shape: Shape of one input (C, H, W); linked from the datamodule.
        channels: Output channels of each encoder stage (the decoder's, reversed).
        latent_dim: Width of the code in the middle.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        channels: list[PositiveInt] = [16, 32],  # noqa: B006 - jsonargparse needs a literal
        latent_dim: PositiveInt = 32,
    ):
        super().__init__()
        in_ch = image_channels("ConvAutoencoder", input_shape)
        self.size = tuple(input_shape[1:])
        height, width = self.size
        encoder: list[nn.Module] = []
        for ch, out_ch in zip([in_ch, *channels], channels, strict=False):
            encoder += [
                nn.Conv2d(ch, out_ch, 3, 2, 1, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.GELU(),
            ]
            height, width = (height + 1) // 2, (width + 1) // 2  # (H, W) after this stage
        code = (channels[-1], height, width)
        self.encoder = nn.Sequential(
            *encoder, nn.Flatten(), nn.Linear(channels[-1] * height * width, latent_dim)
        )
        decoder: list[nn.Module] = [nn.Linear(latent_dim, channels[-1] * height * width),
                                    nn.Unflatten(1, code)]  # fmt: skip
        for ch, out_ch in zip(channels[::-1], [*channels[::-1][1:], None], strict=True):
            up = nn.ConvTranspose2d(ch, out_ch or in_ch, 3, 2, 1, output_padding=1)
            decoder += [up] if out_ch is None else [up, nn.BatchNorm2d(out_ch), nn.GELU()]
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)  # (B, C, H, W) -> (B, latent_dim)

    def forward(self, x: Tensor) -> Tensor:
        height, width = self.size
        return self.decoder(self.encode(x))[..., :height, :width]  # (B, C, H, W)
