from jsonargparse.typing import PositiveInt
from torch import Tensor, nn

from src.errors import UsageError
from src.nets.inputs import image_channels


class _BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, stride, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:  # 1x1 projection where the shapes change
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: Tensor) -> Tensor:
        return (self.body(x) + self.shortcut(x)).relu()


class CifarResNet(nn.Module):
    """A ResNet for small images (He et al. 2016, the CIFAR variant).

    A 3x3 stem without max-pool keeps 32x32 inputs at full resolution; each stage of basic
    blocks halves the resolution after the first. `blocks: [3, 3, 3]` with widths [16, 32, 64]
    is the paper's ResNet-20; `[2, 2, 2, 2]` with [64, 128, 256, 512] is the common "ResNet-18
    for CIFAR". Works on any input size (global average pooling before the head).

    Args:
        input_shape: Shape of one input (C, H, W); linked from the datamodule.
        num_classes: Number of output logits; linked from the datamodule.
        blocks: Basic blocks per stage.
        widths: Output channels per stage (same length as `blocks`).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (3, 32, 32),
        num_classes: int = 10,
        blocks: list[PositiveInt] = [3, 3, 3],  # noqa: B006 - jsonargparse needs a literal default
        widths: list[PositiveInt] = [16, 32, 64],  # noqa: B006
    ):
        super().__init__()
        channels = image_channels("CifarResNet", input_shape)
        if not blocks or len(blocks) != len(widths):
            raise UsageError(
                f"--model.net.blocks {list(blocks)} and --model.net.widths {list(widths)} need "
                "one entry per stage: give them the same length"
            )
        layers: list[nn.Module] = [
            nn.Conv2d(channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        in_ch = widths[0]
        for stage, (n_blocks, width) in enumerate(zip(blocks, widths, strict=True)):
            for i in range(n_blocks):
                layers.append(_BasicBlock(in_ch, width, 2 if stage > 0 and i == 0 else 1))
                in_ch = width
        self.backbone = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(in_ch, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))  # (B, C, H, W) -> (B, num_classes)
