import torch
from jsonargparse.typing import PositiveInt
from torch import Tensor, nn

from src.nets.inputs import image_channels


class AirbenchNet(nn.Module):
    """The airbench94 CIFAR-10 speedrun network (Keller Jordan, 2024), for GPU speedruns.

    A frozen 2x2 patch-whitening convolution, then three conv-pool-BN-GELU groups and a
    max-pooled linear head whose logits are scaled down. Batch norms learn only their bias and
    use a high momentum, as in the record runs. `init_whitening(images)` sets the first layer
    from the eigenvectors of the training images' 2x2 patches; the `WhiteningInit` callback calls
    it with training images at the start of `fit`.

    Args:
        input_shape: Shape of one input (C, H, W); linked from the datamodule.
        num_classes: Number of output logits; linked from the datamodule.
        widths: Output channels of the three conv groups.
        bn_momentum: Batch-norm running-statistics momentum (PyTorch's convention).
        logit_scale: Multiplies the logits; small values act like a temperature.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (3, 32, 32),
        num_classes: int = 10,
        widths: list[PositiveInt] = [64, 256, 256],  # noqa: B006 - jsonargparse needs a literal
        bn_momentum: float = 0.6,
        logit_scale: float = 1 / 9,
    ):
        super().__init__()
        channels = image_channels("AirbenchNet", input_shape)
        whiten_width = 2 * channels * 2 * 2  # each patch eigenvector with both signs
        self.whiten = nn.Conv2d(channels, whiten_width, kernel_size=2, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        layers: list[nn.Module] = [self.whiten, nn.GELU()]
        in_ch = whiten_width
        for width in widths:
            layers += [
                nn.Conv2d(in_ch, width, 3, padding="same", bias=False),
                nn.MaxPool2d(2),
                _batch_norm(width, bn_momentum),
                nn.GELU(),
                nn.Conv2d(width, width, 3, padding="same", bias=False),
                _batch_norm(width, bn_momentum),
                nn.GELU(),
            ]
            in_ch = width
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(in_ch, num_classes, bias=False)
        self.logit_scale = logit_scale
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m is not self.whiten:
                nn.init.dirac_(m.weight[: m.in_channels])  # identity start, as airbench does

    @torch.no_grad()
    def init_whitening(self, images: Tensor, eps: float = 5e-4) -> None:
        """Set the first layer to whiten 2x2 patches of `images` (N, C, H, W), normalised."""
        c = images.shape[1]
        patches = images.float().unfold(2, 2, 1).unfold(3, 2, 1)  # (N, C, H-1, W-1, 2, 2)
        patches = patches.transpose(1, 3).reshape(-1, c, 2, 2).flatten(1)  # (P, C*4)
        patches = patches - patches.mean(0)
        eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / len(patches))
        filters = eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + eps)[:, None]
        filters = filters.reshape(-1, c, 2, 2)
        self.whiten.weight.copy_(torch.cat([filters, -filters]).to(self.whiten.weight))

    def forward(self, x: Tensor) -> Tensor:
        x = self.layers(x)
        x = torch.amax(x, dim=(2, 3))  # global max pool: (B, C)
        return self.head(x) * self.logit_scale  # (B, num_classes)


def _batch_norm(width: int, momentum: float) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(width, momentum=momentum, eps=1e-12)
    bn.weight.requires_grad_(False)  # scale fixed at 1: only the bias learns
    return bn
