from jsonargparse.typing import PositiveInt
from torch import Tensor, nn

from src.arg_types import HalfOpenUnitInterval
from src.nets.inputs import check_dropout, image_channels


class SmallCNN(nn.Module):
    """A VGG-style CNN for small images (8x8 digits up to 32x32 CIFAR).

    Each stage is two 3x3 conv-BN-ReLU layers; stages after the first start with a 2x2 max-pool,
    so the net works on any input size. Global average pooling feeds a linear head.

    Args:
        input_shape: Shape of one input (C, H, W); linked from the datamodule.
        num_classes: Number of output logits; linked from the datamodule.
        channels: Output channels of each stage.
        dropout: Dropout probability before the linear head.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        num_classes: int = 10,
        channels: list[PositiveInt] = [32, 64, 128],  # noqa: B006 - jsonargparse needs a literal
        dropout: HalfOpenUnitInterval = 0.1,
    ):
        super().__init__()
        check_dropout(dropout)
        layers: list[nn.Module] = []
        in_ch = image_channels("SmallCNN", input_shape)
        for i, out_ch in enumerate(channels):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            for conv_in in (in_ch, out_ch):
                layers += [
                    nn.Conv2d(conv_in, out_ch, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out_ch),
                    nn.ReLU(inplace=True),
                ]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(in_ch, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (B, C, H, W) -> (B, num_classes)
