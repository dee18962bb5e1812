import math

from jsonargparse.typing import NonNegativeInt, PositiveInt
from torch import Tensor, nn

from src.arg_types import HalfOpenUnitInterval
from src.errors import UsageError
from src.nets.inputs import check_dropout, image_channels


class ConvNet(nn.Module):
    """A plain, fast CNN: per entry of `channels` one conv-BN-ReLU and a 2x2 max-pool, then the
    feature map flattened into a linear head.

    One conv per resolution and a head that keeps where things are (no global pooling) make it
    the quickest net here to 99% on MNIST per second of compute (`configs/mnist_fast.yaml`,
    `configs/mnist_speedrun.yaml`); SmallCNN, with two convs per stage, learns more per epoch
    on harder data. The default is the 24/32-channel, 5x5-first-kernel net of the fast MNIST
    records (and of `benchmarks/hand_loop.py`).

    Args:
        input_shape: Shape of one input (C, H, W); linked from the datamodule.
        num_classes: Number of output logits; linked from the datamodule.
        channels: Output channels of each conv.
        kernel_sizes: Kernel size of each conv (same length as `channels`; odd, padded to keep
            the size).
        dropout: Dropout probability before the linear head.
        hidden: Width of a hidden ReLU layer in the head (0: none, one linear layer). A small one
            (256) buys MNIST's last tenths of a percent in one epoch for a few percent of time.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        num_classes: int = 10,
        channels: list[PositiveInt] = [24, 32],  # noqa: B006 - jsonargparse needs a literal
        kernel_sizes: list[PositiveInt] = [5, 3],  # noqa: B006
        dropout: HalfOpenUnitInterval = 0.0,
        hidden: NonNegativeInt = 0,
    ):
        super().__init__()
        check_dropout(dropout)
        in_ch = image_channels("ConvNet", input_shape)
        if len(channels) != len(kernel_sizes) or not channels:
            raise UsageError(
                f"ConvNet needs one kernel size per conv: channels {channels}, "
                f"kernel_sizes {kernel_sizes}"
            )
        size = list(input_shape[1:])
        layers: list[nn.Module] = []
        for out_ch, kernel in zip(channels, kernel_sizes, strict=True):
            layers += [
                nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            in_ch, size = out_ch, [s // 2 for s in size]
        if min(size) < 1:
            raise UsageError(
                f"ConvNet halves {tuple(input_shape[1:])} {len(channels)} times: use fewer convs"
            )
        self.features = nn.Sequential(*layers)
        width = in_ch * math.prod(size)
        head: list[nn.Module] = [nn.Flatten(), nn.Dropout(dropout)]
        if hidden:
            head += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            width = hidden
        self.head = nn.Sequential(*head, nn.Linear(width, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (B, C, H, W) -> (B, num_classes)
